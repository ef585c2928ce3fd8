export type NdjsonLine =
  | { lineNo: number; text: string }
  /** Longer than allowed: its content is skipped, not buffered. */
  | { lineNo: number; tooLong: true };

const NEWLINE = 0x0a;

/**
 * The lines of an NDJSON byte stream, numbered as an editor numbers them (1-based, blank lines
 * count but are not yielded). Pulls the next chunk only when the consumer asks for the next line,
 * so a slow consumer slows the upload down instead of buffering it; a line longer than
 * `maxLineBytes` is reported and skipped without being held in memory. CRLF and a leading UTF-8
 * byte order mark are accepted.
 */
export async function* ndjsonLines(
  input: AsyncIterable<Buffer | string> | Iterable<Buffer | string>,
  maxLineBytes: number,
): AsyncGenerator<NdjsonLine> {
  let lineNo = 0;
  let parts: Buffer[] = [];
  let partBytes = 0;
  let overflow = false;

  const finish = (): NdjsonLine | undefined => {
    lineNo++;
    if (overflow) {
      overflow = false;
      parts = [];
      partBytes = 0;
      return { lineNo, tooLong: true };
    }
    let text = Buffer.concat(parts, partBytes).toString('utf8');
    parts = [];
    partBytes = 0;
    if (lineNo === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    if (text.endsWith('\r')) text = text.slice(0, -1);
    return text.trim() === '' ? undefined : { lineNo, text };
  };

  const append = (piece: Buffer): void => {
    if (overflow) return;
    // One byte more for the CR of a CRLF line end.
    if (partBytes + piece.length > maxLineBytes + 1) {
      overflow = true;
      parts = [];
      partBytes = 0;
      return;
    }
    parts.push(piece);
    partBytes += piece.length;
  };

  for await (const chunk of input) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let start = 0;
    for (;;) {
      const end = buffer.indexOf(NEWLINE, start);
      if (end < 0) break;
      append(buffer.subarray(start, end));
      const line = finish();
      if (line) yield line;
      start = end + 1;
    }
    // Copied: the rest of the chunk must not pin the whole chunk buffer.
    if (start < buffer.length) append(Buffer.from(buffer.subarray(start)));
  }
  if (partBytes > 0 || overflow) {
    const line = finish();
    if (line) yield line;
  }
}
