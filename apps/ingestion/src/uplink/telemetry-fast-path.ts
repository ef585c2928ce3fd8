import { z } from 'zod';
import {
  REGISTERS_BY_KIND,
  meterKindSchema,
  ratSchema,
  radioStatusSchema,
  telemetryMessageSchema,
  type MeterKind,
  type TelemetryMessage,
} from '@meterlink/contracts';

/**
 * Telemetry is ingestion's hot message (every meter, every interval): zod's parse of it cost
 * about 8 % of ingestion's CPU at saturation, and it copies the whole message. This check accepts
 * only what the schema certainly accepts and would return unchanged (no key zod would strip, no
 * value it would change), and then the parsed JSON itself is the message. Anything else (an extra
 * or missing key, a wrong type, an unusual value) answers undefined and goes through the schema,
 * so a malformed message is rejected with exactly the same reason and detail as before
 * (telemetry-fast-path.spec.ts compares the two on variants of every field).
 */
const ROOT = ['v', 'seq', 'sentAt', 'kind', 'readings', 'radio', 'battery', 'usage'] as const;
const RADIO = ['rat', 'iccid', 'plmn', 'cellId', 'rsrp', 'rsrq', 'sinr', 'attachFailures'] as const;
const ROOT_KNOWN = new Set<string>(ROOT);
const ROOT_REQUIRED = ROOT.length - 1; // battery is optional

/** The schema still has exactly these fields; if a contract change adds one, all goes to zod. */
const sameKeys = (shape: object, fields: readonly string[]): boolean => {
  const keys = Object.keys(shape);
  return keys.length === fields.length && fields.every((f) => keys.includes(f));
};
const SHAPE_MATCHES =
  sameKeys(telemetryMessageSchema.shape, ROOT) && sameKeys(radioStatusSchema.shape, RADIO);

// The schema's own patterns: zod's offset-datetime expression, the contract's iccid and plmn.
const DATETIME = z.regexes.datetime({ offset: true, local: false, precision: undefined });
const ICCID = /^[0-9]{18,22}F?$/;
const PLMN = /^[0-9]{5,6}$/;
const KINDS = new Set<unknown>(meterKindSchema.options);
const RATS = new Set<unknown>(ratSchema.options);
const MAX_READINGS = 96;
const MAX_CELL_ID = 32;

const isUint = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;
const isDateTime = (v: unknown): boolean => typeof v === 'string' && DATETIME.test(v);
const isNullableFinite = (v: unknown): boolean =>
  v === null || (typeof v === 'number' && Number.isFinite(v));

function isPlain(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Exactly `n` own keys, each one of `allowed`. */
function hasOnly(o: Record<string, unknown>, n: number, ...allowed: string[]): boolean {
  let count = 0;
  for (const key in o) {
    if (!Object.prototype.hasOwnProperty.call(o, key)) return false;
    if (!allowed.includes(key)) return false;
    count++;
  }
  return count === n;
}

function readingsConform(readings: unknown, kind: MeterKind): boolean {
  if (!Array.isArray(readings) || readings.length > MAX_READINGS) return false;
  const allowed = REGISTERS_BY_KIND[kind];
  for (let i = 0; i < readings.length; i++) {
    // A hole in the array (not possible from JSON) is not an object and falls back.
    const r: unknown = readings[i];
    if (
      !isPlain(r) ||
      !hasOnly(r, 3, 'at', 'register', 'value') ||
      !isDateTime(r.at) ||
      typeof r.register !== 'string' ||
      !(allowed as readonly string[]).includes(r.register) ||
      !isUint(r.value)
    )
      return false;
  }
  return true;
}

function radioConforms(radio: unknown): boolean {
  if (!isPlain(radio)) return false;
  let count = 0;
  for (const key in radio) {
    if (!Object.prototype.hasOwnProperty.call(radio, key)) return false;
    if (!(RADIO as readonly string[]).includes(key)) return false;
    count++;
  }
  const cellId = radio.cellId;
  return (
    count === RADIO.length &&
    RATS.has(radio.rat) &&
    typeof radio.iccid === 'string' &&
    ICCID.test(radio.iccid) &&
    typeof radio.plmn === 'string' &&
    PLMN.test(radio.plmn) &&
    (cellId === null || (typeof cellId === 'string' && cellId.length <= MAX_CELL_ID)) &&
    isNullableFinite(radio.rsrp) &&
    isNullableFinite(radio.rsrq) &&
    isNullableFinite(radio.sinr) &&
    isUint(radio.attachFailures)
  );
}

/** The message itself when the schema certainly accepts it unchanged, else undefined. */
export function conformingTelemetry(json: Record<string, unknown>): TelemetryMessage | undefined {
  if (!SHAPE_MATCHES) return undefined;
  let required = 0;
  for (const key in json) {
    if (!Object.prototype.hasOwnProperty.call(json, key)) return undefined;
    if (!ROOT_KNOWN.has(key)) return undefined;
    if (key !== 'battery') required++;
  }
  if (required !== ROOT_REQUIRED) return undefined;
  const { battery, usage } = json;
  if (
    json.v !== 1 ||
    !isUint(json.seq) ||
    !isDateTime(json.sentAt) ||
    !KINDS.has(json.kind) ||
    !readingsConform(json.readings, json.kind as MeterKind) ||
    !radioConforms(json.radio) ||
    !isPlain(usage) ||
    !hasOnly(usage, 2, 'bytesUp', 'bytesDown') ||
    !isUint(usage.bytesUp) ||
    !isUint(usage.bytesDown)
  )
    return undefined;
  if ('battery' in json) {
    if (!isPlain(battery) || !hasOnly(battery, 1, 'pct')) return undefined;
    const pct = battery.pct;
    if (typeof pct !== 'number' || !(pct >= 0 && pct <= 100)) return undefined;
  }
  return json as unknown as TelemetryMessage;
}
