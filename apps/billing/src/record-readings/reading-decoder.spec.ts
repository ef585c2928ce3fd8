import { meterReadingRecordSchema, type MeterReadingRecord } from '@meterlink/contracts';
import { readingVariants, validReading } from '../test-support/reading-variants';
import { ReadingColumns } from './reading-columns';
import { addRawReading } from './reading-decoder';

/** Row 0 of cols, every column. */
function row(cols: ReadingColumns): unknown[] {
  return [
    cols.offsets[0],
    cols.meterId[0],
    cols.register[0],
    cols.kind[0],
    cols.value[0],
    cols.seq[0],
    cols.atUs[0],
    cols.receivedUs[0],
    cols.inexact?.get(0),
  ];
}

/**
 * What the bytes must give when the decoder takes them: the row of the record the schema returns
 * (the path taken without the decoder).
 */
function expectSameAsSchema(bytes: Buffer): boolean {
  const raw = new ReadingColumns();
  if (!addRawReading(raw, bytes, '7')) {
    expect(raw.n).toBe(0);
    return false;
  }
  expect(raw.n).toBe(1);
  const parsed = meterReadingRecordSchema.safeParse(JSON.parse(bytes.toString('utf8')));
  expect(parsed.success).toBe(true);
  const viaSchema = new ReadingColumns();
  viaSchema.add(parsed.data as MeterReadingRecord, '7');
  expect(row(raw)).toEqual(row(viaSchema));
  return true;
}

const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

describe('addRawReading', () => {
  it('takes a reading as the bench and as ingestion write it (correlationId after at)', () => {
    expect(expectSameAsSchema(json(validReading))).toBe(true);
    const { eventId, type, at, ...rest } = validReading;
    const ingestion = { eventId, type, at, correlationId: 'corr-1', ...rest };
    expect(expectSameAsSchema(json(ingestion))).toBe(true);
    expect(expectSameAsSchema(json({ ...validReading, causationId: 'c' }))).toBe(true);
    // Keys in another order, offsets, fewer fraction digits.
    const reversed = Object.fromEntries(Object.entries(validReading).reverse());
    expect(expectSameAsSchema(json(reversed))).toBe(true);
    expect(
      expectSameAsSchema(json({ ...validReading, at: '2026-11-01T01:15:00.5+01:00', value: 0 })),
    ).toBe(true);
    expect(expectSameAsSchema(json({ ...validReading, seq: 999_999_999_999_999 }))).toBe(true);
  });

  it('takes only what the schema accepts, as the schema returns it', () => {
    let taken = 0;
    for (const variant of readingVariants()) if (expectSameAsSchema(json(variant))) taken++;
    expect(taken).toBeGreaterThan(20);
  });

  it('leaves any other layout to JSON.parse and the schema', () => {
    const text = JSON.stringify(validReading);
    for (const other of [
      JSON.stringify(validReading, null, 1),
      ` ${text}`,
      `${text} `,
      text.replace('"seq":2', '"seq":2,"seq":3'),
      text.replace('"seq":2', '"seq":02'),
      text.replace('"seq":2', '"seq":2e0'),
      text.replace('"seq":2', '"seq":2.0'),
      text.replace('"seq":2', '"seq":-0'),
      text.replace('"seq":2', '"seq":1000000000000000'),
      text.replace('BB-202611', 'BB\\u002d202611'),
      text.replace('"meterId"', '"meter\\u0049d"'),
      text.replace('"type":"meter.reading"', '"type":"meter.reading\\""'),
      text.replace('.000Z"', '.0001Z"'),
      text.replace('"2026-11-01T00:15:00.000Z"', '"1899-12-31T23:59:59Z"'),
      text.replace('"2026-11-01T00:15:00.000Z"', '"2200-01-01T00:00:00Z"'),
      text.replace('0b8f0c3e-1a2b-4c3d', '00000000-0000-0000'),
      text.replace('}', ',"correlationId":"\\u00e9"}'),
      text.replace('}', ',"correlationId":"é"}'),
      text.slice(0, -1),
    ]) {
      const taken = expectSameAsSchema(Buffer.from(other));
      if (taken) throw new Error(`took ${other}`);
    }
  });

  it('never takes a byte-level mutation the schema would not return unchanged', () => {
    const samples = [
      JSON.stringify(validReading),
      JSON.stringify({ ...validReading, correlationId: 'corr-1' }),
    ];
    const bytes = Array.from(' "\\,:{}[]-+.0129aefAFZTzé\u0000\u007f', (c) => c.charCodeAt(0));
    let taken = 0;
    let tried = 0;
    for (const sample of samples) {
      const base = Buffer.from(sample);
      for (let i = 0; i < base.length; i++) {
        for (const b of bytes) {
          const mutated = Buffer.from(base);
          mutated[i] = b;
          let ok: boolean;
          try {
            JSON.parse(mutated.toString('utf8'));
            ok = true;
          } catch {
            ok = false;
          }
          const raw = new ReadingColumns();
          const rawTaken = addRawReading(raw, mutated, '7');
          tried++;
          if (!rawTaken) continue;
          taken++;
          expect(ok).toBe(true);
          expectSameAsSchema(mutated);
        }
        // The byte removed.
        const removed = Buffer.concat([base.subarray(0, i), base.subarray(i + 1)]);
        const raw = new ReadingColumns();
        if (addRawReading(raw, removed, '7')) expectSameAsSchema(removed);
      }
    }
    expect(tried).toBeGreaterThan(5_000);
    expect(taken).toBeGreaterThan(100);
  });
});
