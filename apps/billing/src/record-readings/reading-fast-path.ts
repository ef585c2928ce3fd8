import { z } from 'zod';
import {
  METER_ID_PATTERN,
  meterKindSchema,
  meterReadingRecordSchema,
  registerSchema,
} from '@meterlink/contracts';
import type { FastPath } from '@meterlink/kafka';

/**
 * meter.readings.v1 is billing's hot topic (a reading per meter every 15 minutes): validating
 * each record with zod cost about 3 µs, more than parsing its JSON, and zod copies every record.
 * This check accepts what the schema certainly accepts and returns unchanged; anything else
 * (a missing or extra key, a wrong type, an unusual value) answers false and goes through the
 * schema, so a malformed reading is rejected exactly as before (see reading-fast-path.spec.ts,
 * which compares the two).
 */
/** The keys of a meter.readings.v1 record, in the order the contract lists them. */
export const READING_FIELDS = [
  'eventId',
  'type',
  'at',
  'correlationId',
  'causationId',
  'meterId',
  'kind',
  'register',
  'value',
  'seq',
  'receivedAt',
  'sentAt',
] as const;
const KNOWN = new Set<string>(READING_FIELDS);
const OPTIONAL = new Set<string>(['correlationId', 'causationId']);
const REQUIRED = READING_FIELDS.length - OPTIONAL.size;

// The schema's own patterns: zod's uuid and offset-datetime expressions, the contract's meter id.
const UUID = z.regexes.uuid();
const DATETIME = z.regexes.datetime({ offset: true, local: false, precision: undefined });
const KINDS = new Set<unknown>(meterKindSchema.options);
const REGISTERS = new Set<unknown>(registerSchema.options);

/** The schema still has exactly these fields; if a contract change adds one, all goes to zod. */
export const READING_SHAPE_MATCHES = (() => {
  const keys = Object.keys(meterReadingRecordSchema.shape);
  return keys.length === READING_FIELDS.length && READING_FIELDS.every((f) => keys.includes(f));
})();

const isUint = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;
const isDateTime = (v: unknown): boolean => typeof v === 'string' && DATETIME.test(v);
const isEnvelopeId = (v: unknown): boolean =>
  v === undefined || (typeof v === 'string' && v.length >= 1 && v.length <= 128);

export const readingFastPath: FastPath = (json) => {
  if (!READING_SHAPE_MATCHES || typeof json !== 'object' || json === null || Array.isArray(json))
    return false;
  const r = json as Record<string, unknown>;
  // Own enumerable keys: each must be a field (zod would strip any other, changing the value).
  let required = 0;
  for (const key in r) {
    if (!Object.prototype.hasOwnProperty.call(r, key)) return false;
    if (OPTIONAL.has(key)) continue;
    if (!KNOWN.has(key)) return false;
    required++;
  }
  return (
    required === REQUIRED &&
    r.type === 'meter.reading' &&
    typeof r.eventId === 'string' &&
    UUID.test(r.eventId) &&
    typeof r.meterId === 'string' &&
    METER_ID_PATTERN.test(r.meterId) &&
    KINDS.has(r.kind) &&
    REGISTERS.has(r.register) &&
    isUint(r.value) &&
    isUint(r.seq) &&
    isDateTime(r.at) &&
    isDateTime(r.receivedAt) &&
    isDateTime(r.sentAt) &&
    isEnvelopeId(r.correlationId) &&
    isEnvelopeId(r.causationId)
  );
};
