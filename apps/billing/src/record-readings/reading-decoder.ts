import { meterKindSchema, registerSchema } from '@meterlink/contracts';
import type { ColumnDecoder } from '@meterlink/kafka';
import { PG_EPOCH_MS, ReadingColumns } from './reading-columns';
import { READING_FIELDS, READING_SHAPE_MATCHES } from './reading-fast-path';

/**
 * meter.readings.v1 straight from the record's bytes into the ledger statement's columns, without
 * JSON.parse, a parsed object or a regular expression per reading (BatchConsumer's `columns`).
 *
 * Only the common layout is taken: one flat JSON object as JSON.stringify writes it (no
 * whitespace, keys in any order, each once), ASCII strings without escapes, integers of at most
 * 15 digits, lower- or upper-case uuids of versions 1 to 8, instants `YYYY-MM-DDTHH:MM:SS`
 * with up to 3 fraction digits and `Z` or an offset, years 1900 to 2199. Each check is the
 * contract schema's own (reading-fast-path.ts) narrowed, so what is taken is what the schema
 * accepts and returns unchanged; anything else answers false and goes through JSON.parse and the
 * schema as before (same dead-letter reason and detail). reading-decoder.spec.ts compares both.
 */
const QUOTE = 0x22;
const COMMA = 0x2c;
const COLON = 0x3a;
const DASH = 0x2d;
const BACKSLASH = 0x5c;

const ascii = (s: string): number[] => Array.from(s, (c) => c.charCodeAt(0));

/** The record's fields, numbered (bit `1 << n` in a record's seen fields). */
const FIELD_NAMES = READING_FIELDS;
const Field = Object.fromEntries(FIELD_NAMES.map((name, n) => [name, n])) as Readonly<
  Record<(typeof FIELD_NAMES)[number], number>
>;
/** Each field's name, by field number. */
const KEY_BYTES: readonly number[][] = FIELD_NAMES.map(ascii);
const REQUIRED_MASK = (1 << 12) - 1 - (1 << Field.correlationId) - (1 << Field.causationId);
const TYPE = ascii('meter.reading');
const KINDS = meterKindSchema.options.map((k) => [ascii(k), k] as const);
const REGISTERS = registerSchema.options.map((r) => [ascii(r), r] as const);

const equalAt = (b: Buffer, s: number, e: number, want: readonly number[]): boolean => {
  if (e - s !== want.length) return false;
  for (let k = 0; k < want.length; k++) if (b[s + k] !== want[k]) return false;
  return true;
};

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isHex = (c: number): boolean =>
  (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
const isIdChar = (c: number): boolean =>
  (c >= 0x30 && c <= 0x39) ||
  (c >= 0x61 && c <= 0x7a) ||
  (c >= 0x41 && c <= 0x5a) ||
  c === 0x2e ||
  c === 0x5f ||
  c === DASH;

/** zod's uuid expression, without its all-zero and all-f special cases (those go to zod). */
function isUuid(b: Buffer, s: number, e: number): boolean {
  if (e - s !== 36) return false;
  for (let k = 0; k < 36; k++) {
    const c = b[s + k]!;
    if (k === 8 || k === 13 || k === 18 || k === 23) {
      if (c !== DASH) return false;
    } else if (!isHex(c)) return false;
  }
  const version = b[s + 14]!;
  const variant = b[s + 19]! | 0x20; // lower case
  return (
    version >= 0x31 &&
    version <= 0x38 &&
    (variant === 0x38 || variant === 0x39 || variant === 0x61 || variant === 0x62)
  );
}

/** Where `YYYY-MM-DDTHH:MM:SS` has its digits. */
const DIGIT_AT = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18];
const two = (b: Buffer, i: number): number => (b[i]! - 0x30) * 10 + (b[i + 1]! - 0x30);
const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const isLeap = (y: number): boolean => y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);

/**
 * Microseconds since 2000-01-01Z of an instant zod's offset datetime accepts, in the narrowed
 * layout above; NaN for anything else.
 */
function instantMicros(b: Buffer, s: number, e: number): number {
  const len = e - s;
  if (len < 20) return NaN;
  for (const k of DIGIT_AT) if (!isDigit(b[s + k]!)) return NaN;
  if (b[s + 4] !== DASH || b[s + 7] !== DASH || b[s + 10] !== 0x54 || b[s + 13] !== COLON)
    return NaN;
  if (b[s + 16] !== COLON) return NaN;
  const year = two(b, s) * 100 + two(b, s + 2);
  const month = two(b, s + 5);
  const day = two(b, s + 8);
  const hour = two(b, s + 11);
  const minute = two(b, s + 14);
  const second = two(b, s + 17);
  if (year < 1900 || year > 2199 || month < 1 || month > 12 || day < 1) return NaN;
  if (day > (month === 2 && isLeap(year) ? 29 : DAYS[month - 1]!)) return NaN;
  if (hour > 23 || minute > 59 || second > 59) return NaN;
  let i = s + 19;
  let ms = 0;
  if (b[i] === 0x2e) {
    i++;
    let digits = 0;
    let scale = 100;
    while (i < e && isDigit(b[i]!)) {
      if (++digits > 3) return NaN;
      ms += (b[i]! - 0x30) * scale;
      scale /= 10;
      i++;
    }
    if (digits === 0) return NaN;
  }
  let offsetMin = 0;
  if (b[i] === 0x5a) i++;
  else if (b[i] === 0x2b || b[i] === DASH) {
    if (e - i !== 6 || !isDigit(b[i + 1]!) || !isDigit(b[i + 2]!) || b[i + 3] !== COLON) return NaN;
    if (!isDigit(b[i + 4]!) || !isDigit(b[i + 5]!)) return NaN;
    const oh = two(b, i + 1);
    const om = two(b, i + 4);
    if (oh > 23 || om > 59) return NaN;
    offsetMin = (b[i] === DASH ? -1 : 1) * (oh * 60 + om);
    i += 6;
  } else return NaN;
  if (i !== e) return NaN;
  const date = (year * 100 + month) * 100 + day;
  if (date !== lastDate) {
    lastDate = date;
    lastDateMs = Date.UTC(year, month - 1, day);
  }
  const ms1 =
    lastDateMs + ((hour * 60 + minute - offsetMin) * 60 + second) * 1000 + ms - PG_EPOCH_MS;
  return ms1 * 1000;
}
/** Readings of a batch mostly share their day: Date.UTC once per day. */
let lastDate = -1;
let lastDateMs = 0;

/** A non-negative integer of 1 to 15 digits without a leading zero (a safe integer), or NaN. */
function uint(b: Buffer, s: number, e: number): number {
  const len = e - s;
  if (len < 1 || len > 15 || (len > 1 && b[s] === 0x30)) return NaN;
  let v = 0;
  for (let i = s; i < e; i++) {
    const c = b[i]!;
    if (!isDigit(c)) return NaN;
    v = v * 10 + (c - 0x30);
  }
  return v;
}

/** Column 0 of a row's fields: start and end of each field's value (strings: inside quotes). */
const starts = new Int32Array(12);
const ends = new Int32Array(12);

/** An envelope id: 1 to 128 printable ASCII characters, no backslash (no escape). */
function isEnvelopeId(b: Buffer, field: number): boolean {
  const s = starts[field]!;
  const e = ends[field]!;
  if (e - s < 1 || e - s > 128) return false;
  for (let k = s; k < e; k++) {
    const c = b[k]!;
    if (c < 0x20 || c >= 0x7f || c === BACKSLASH) return false;
  }
  return true;
}

/**
 * The field named by b[s, e), or -1. Records of a topic mostly list their keys in the same order:
 * the key that followed `previous` last time is tried first.
 */
const FIRST = 12;
const after = new Int8Array(13).fill(-1);
function keyAt(b: Buffer, s: number, e: number, previous: number): number {
  const guess = after[previous]!;
  if (guess >= 0 && equalAt(b, s, e, KEY_BYTES[guess]!)) return guess;
  for (let f = 0; f < KEY_BYTES.length; f++)
    if (equalAt(b, s, e, KEY_BYTES[f]!)) {
      after[previous] = f;
      return f;
    }
  return -1;
}

/** Takes the record into cols if it has the layout above; false (cols untouched) otherwise. */
export function addRawReading(cols: ReadingColumns, b: Buffer, offset: string): boolean {
  if (!READING_SHAPE_MATCHES) return false;
  const n = b.length;
  if (n < 2 || b[0] !== 0x7b || b[n - 1] !== 0x7d) return false;
  let seen = 0;
  let i = 1;
  let previous = FIRST;
  for (;;) {
    // "key":
    if (b[i] !== QUOTE) return false;
    const ks = ++i;
    i = b.indexOf(QUOTE, i);
    if (i < 0) return false;
    const ke = i;
    if (b[++i] !== COLON) return false;
    i++;
    const field = keyAt(b, ks, ke, previous);
    if (field < 0 || (seen & (1 << field)) !== 0) return false;
    seen |= 1 << field;
    previous = field;
    // value: a string or, for value and seq, digits.
    if (field === Field.value || field === Field.seq) {
      const vs = i;
      while (i < n && isDigit(b[i]!)) i++;
      starts[field] = vs;
      ends[field] = i;
    } else {
      // Up to the next quote: an escaped one ends a value early, but every string field's
      // content is checked below (an escape's backslash never passes), so such a record is not
      // taken whatever follows.
      if (b[i] !== QUOTE) return false;
      const vs = ++i;
      i = b.indexOf(QUOTE, i);
      if (i < 0) return false;
      starts[field] = vs;
      ends[field] = i++;
    }
    if (b[i] === COMMA) {
      i++;
      continue;
    }
    if (i === n - 1) break; // the closing brace
    return false;
  }
  if ((seen & REQUIRED_MASK) !== REQUIRED_MASK) return false;
  if ((seen & (1 << Field.correlationId)) !== 0 && !isEnvelopeId(b, Field.correlationId))
    return false;
  if ((seen & (1 << Field.causationId)) !== 0 && !isEnvelopeId(b, Field.causationId)) return false;
  if (!equalAt(b, starts[Field.type]!, ends[Field.type]!, TYPE)) return false;
  if (!isUuid(b, starts[Field.eventId]!, ends[Field.eventId]!)) return false;
  const ms = starts[Field.meterId]!;
  const me = ends[Field.meterId]!;
  if (me - ms < 3 || me - ms > 64) return false;
  for (let k = ms; k < me; k++) if (!isIdChar(b[k]!)) return false;
  let kind: string | undefined;
  for (const [bytes, k] of KINDS)
    if (equalAt(b, starts[Field.kind]!, ends[Field.kind]!, bytes)) kind = k;
  let register: string | undefined;
  for (const [bytes, r] of REGISTERS)
    if (equalAt(b, starts[Field.register]!, ends[Field.register]!, bytes)) register = r;
  if (kind === undefined || register === undefined) return false;
  const value = uint(b, starts[Field.value]!, ends[Field.value]!);
  const seq = uint(b, starts[Field.seq]!, ends[Field.seq]!);
  const at = instantMicros(b, starts[Field.at]!, ends[Field.at]!);
  const received = instantMicros(b, starts[Field.receivedAt]!, ends[Field.receivedAt]!);
  const sent = instantMicros(b, starts[Field.sentAt]!, ends[Field.sentAt]!);
  if (Number.isNaN(value + seq + at + received + sent)) return false;
  cols.push(offset, b.toString('latin1', ms, me), register, kind, value, seq, at, received);
  return true;
}

export const readingColumnDecoder: ColumnDecoder<ReadingColumns> = {
  create: () => new ReadingColumns(),
  addRaw: addRawReading,
  add: (cols, value, offset) => cols.add(value as Parameters<ReadingColumns['add']>[0], offset),
};
