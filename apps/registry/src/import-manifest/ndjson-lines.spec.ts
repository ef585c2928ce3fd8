import { ndjsonLines, type NdjsonLine } from './ndjson-lines';

async function collect(chunks: (string | Buffer)[], max = 64): Promise<NdjsonLine[]> {
  const lines: NdjsonLine[] = [];
  for await (const line of ndjsonLines(chunks, max)) lines.push(line);
  return lines;
}

describe('ndjsonLines', () => {
  it('numbers lines as an editor does, skipping blank ones without renumbering', async () => {
    expect(await collect(['{"a":1}\n\n{"a":2}\r\n  \n{"a":3}'])).toEqual([
      { lineNo: 1, text: '{"a":1}' },
      { lineNo: 3, text: '{"a":2}' },
      { lineNo: 5, text: '{"a":3}' },
    ]);
  });

  it('joins lines split across chunks, including inside a multi-byte character', async () => {
    const text = Buffer.from('{"name":"Zürich"}\n{"b":2}\n');
    const cut = text.indexOf(Buffer.from('ü')) + 1;
    expect(
      await collect([text.subarray(0, cut), text.subarray(cut, cut + 3), text.subarray(cut + 3)]),
    ).toEqual([
      { lineNo: 1, text: '{"name":"Zürich"}' },
      { lineNo: 2, text: '{"b":2}' },
    ]);
  });

  it('reports an over-long line by number and carries on with the next', async () => {
    const long = 'x'.repeat(100);
    expect(
      await collect([`{"a":1}\n${long.slice(0, 50)}`, `${long.slice(50)}\n{"a":2}\n`], 64),
    ).toEqual([
      { lineNo: 1, text: '{"a":1}' },
      { lineNo: 2, tooLong: true },
      { lineNo: 3, text: '{"a":2}' },
    ]);
  });

  it('accepts a line of exactly the limit and a final line without a newline', async () => {
    const exact = 'y'.repeat(64);
    expect(await collect([`${exact}\n`, 'last'], 64)).toEqual([
      { lineNo: 1, text: exact },
      { lineNo: 2, text: 'last' },
    ]);
  });

  it('drops a leading byte order mark', async () => {
    expect(await collect(['\ufeff{"a":1}\n'])).toEqual([{ lineNo: 1, text: '{"a":1}' }]);
  });

  it('reads the next chunk only when the next line is wanted', async () => {
    let pulled = 0;
    function* source(): Generator<string> {
      for (let i = 0; i < 100; i++) {
        pulled++;
        yield `{"i":${i}}\n`;
      }
    }
    const lines = ndjsonLines(source(), 64);
    await lines.next();
    await lines.next();
    expect(pulled).toBe(2);
    await lines.return(undefined);
  });
});
