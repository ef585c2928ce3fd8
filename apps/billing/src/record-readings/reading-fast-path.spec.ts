import type { KafkaMessage } from 'kafkajs';
import { TOPICS, meterReadingRecordSchema } from '@meterlink/contracts';
import { decodeMessage } from '@meterlink/kafka';
import {
  readingVariants as variants,
  validReading as valid,
} from '../test-support/reading-variants';
import { readingFastPath } from './reading-fast-path';

const message = (value: unknown, offset: number): KafkaMessage => ({
  offset: String(offset),
  key: Buffer.from('BB-202611-000001'),
  value: Buffer.from(JSON.stringify(value)),
  timestamp: '1764547200000',
  attributes: 0,
  headers: {},
});

describe('readingFastPath', () => {
  it('takes a well-formed reading', () => {
    expect(readingFastPath(valid)).toBe(true);
    expect(readingFastPath({ ...valid, correlationId: 'corr-1' })).toBe(true);
  });

  it('takes only what the contract schema accepts, and returns it as the schema would', () => {
    let taken = 0;
    for (const json of variants()) {
      if (!readingFastPath(json)) continue;
      taken++;
      const parsed = meterReadingRecordSchema.safeParse(json);
      expect(parsed.success).toBe(true);
      expect(json).toEqual(parsed.data);
    }
    // Valid variants are taken too (not just the one sample): the check is not merely strict.
    expect(taken).toBeGreaterThan(20);
  });

  it('leaves every record the schema rejects to the schema: the same reason and detail', () => {
    const readings = TOPICS.meterReadings;
    let rejected = 0;
    variants().forEach((json, offset) => {
      const fast = decodeMessage(
        readings,
        message(json, offset),
        readings.name,
        0,
        readingFastPath,
      );
      const schemaOnly = decodeMessage(readings, message(json, offset), readings.name, 0);
      expect(fast).toEqual(schemaOnly);
      if (!fast.ok) rejected++;
    });
    expect(rejected).toBeGreaterThan(50);
  });
});
