import { timestamptzArray } from './timestamptz-array';

/** The microseconds since 2000-01-01Z of each element, read back from the binary array. */
function decode(buf: Buffer): bigint[] {
  expect(buf.readInt32BE(0)).toBe(1); // one dimension
  expect(buf.readInt32BE(4)).toBe(0); // no nulls
  expect(buf.readUInt32BE(8)).toBe(1184); // timestamptz
  const n = buf.readInt32BE(12);
  expect(buf.readInt32BE(16)).toBe(1); // lower bound
  expect(buf.length).toBe(20 + 12 * n);
  return Array.from({ length: n }, (_, i) => {
    expect(buf.readInt32BE(20 + 12 * i)).toBe(8);
    return buf.readBigInt64BE(24 + 12 * i);
  });
}

describe('timestamptzArray', () => {
  it('encodes instants as microseconds since 2000-01-01T00:00:00Z', () => {
    const buf = timestamptzArray([
      '2000-01-01T00:00:00Z',
      '2026-11-01T00:15:00.000Z',
      '2026-11-01T00:15:00.000Z',
      '2026-11-01T01:15:00.123+01:00',
      '1999-12-31T23:59:59.999Z',
      '1900-01-01T00:00:00Z',
      '2199-12-31T23:59:59.999-14:00',
    ])!;
    expect(decode(buf)).toEqual([
      0n,
      BigInt(Date.UTC(2026, 10, 1, 0, 15) - Date.UTC(2000, 0, 1)) * 1000n,
      BigInt(Date.UTC(2026, 10, 1, 0, 15) - Date.UTC(2000, 0, 1)) * 1000n,
      BigInt(Date.UTC(2026, 10, 1, 0, 15, 0, 123) - Date.UTC(2000, 0, 1)) * 1000n,
      -1000n,
      BigInt(Date.UTC(1900, 0, 1) - Date.UTC(2000, 0, 1)) * 1000n,
      BigInt(Date.UTC(2200, 0, 1, 13, 59, 59, 999) - Date.UTC(2000, 0, 1)) * 1000n,
    ]);
  });

  it('encodes an empty array', () => {
    expect(decode(timestamptzArray([])!)).toEqual([]);
  });

  it('leaves to text what Date.parse would not read exactly', () => {
    for (const iso of [
      '2026-11-01T00:15:00.1234Z', // microseconds: PostgreSQL keeps them, Date.parse drops them
      '1899-12-31T23:59:59Z',
      '2200-01-01T00:00:00Z',
      '0000-01-01T00:00:00Z',
      '2026-11-01 00:15:00Z',
    ])
      expect(timestamptzArray(['2026-11-01T00:00:00Z', iso])).toBeUndefined();
  });
});

describe('timestamptzArray in a given order', () => {
  it('writes element order[k] at position k', () => {
    const isos = [
      '2000-01-01T00:00:00.001Z',
      '2000-01-01T00:00:00.002Z',
      '2000-01-01T00:00:00.003Z',
    ];
    expect(decode(timestamptzArray(isos, Uint32Array.from([2, 0, 1]))!)).toEqual([
      3000n,
      1000n,
      2000n,
    ]);
  });
});
