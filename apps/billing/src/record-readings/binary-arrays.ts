/**
 * One-dimensional arrays in PostgreSQL's binary format (a Buffer, which node-postgres sends as a
 * binary parameter): PostgreSQL reads each element without parsing an array literal, and billing
 * writes them without building and encoding one string per array.
 *
 * Layout: dimensions (1), has-nulls flag (0), element type, then length and lower bound (1) of
 * the one dimension; each element: its length in bytes and its bytes.
 */
const TEXT_OID = 25;
const INT8_OID = 20;
const TWO_32 = 2 ** 32;

function header(out: Buffer, oid: number, n: number): number {
  out.writeInt32BE(1, 0);
  out.writeInt32BE(0, 4);
  out.writeUInt32BE(oid, 8);
  out.writeInt32BE(n, 12);
  out.writeInt32BE(1, 16);
  return 20;
}

/**
 * A text[] of ASCII strings (contract-validated meter ids, register and kind names: the caller
 * guarantees it; each character is written as one byte), items[order[k]] at position k.
 */
export function asciiTextArray(items: readonly string[], order?: Uint32Array): Buffer {
  const n = order ? order.length : items.length;
  let bytes = 20 + 4 * n;
  for (let k = 0; k < n; k++) bytes += items[order ? order[k]! : k]!.length;
  const out = Buffer.allocUnsafe(bytes);
  let at = header(out, TEXT_OID, n);
  for (let k = 0; k < n; k++) {
    const s = items[order ? order[k]! : k]!;
    const len = s.length;
    out.writeInt32BE(len, at);
    at += 4;
    for (let c = 0; c < len; c++) out[at + c] = s.charCodeAt(c);
    at += len;
  }
  return out;
}

/** An int8[] of safe integers, items[order[k]] at position k. */
export function int8Array(items: ArrayLike<number>, order?: Uint32Array): Buffer {
  return int64Array(INT8_OID, items, order);
}

/**
 * An array of 8-byte integer elements (int8, or timestamptz as microseconds since 2000-01-01Z)
 * from safe integers, items[order[k]] at position k.
 */
export function int64Array(oid: number, items: ArrayLike<number>, order?: Uint32Array): Buffer {
  const n = order ? order.length : items.length;
  const out = Buffer.allocUnsafe(20 + 12 * n);
  let at = header(out, oid, n);
  for (let k = 0; k < n; k++) {
    const v = items[order ? order[k]! : k]!;
    const high = Math.floor(v / TWO_32);
    out.writeInt32BE(8, at);
    out.writeInt32BE(high, at + 4);
    out.writeUInt32BE(v - high * TWO_32, at + 8);
    at += 12;
  }
  return out;
}

const COPY_SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

/** What copyReadingsSql reads. */
export interface ReadingRows {
  meterId: readonly string[];
  register: readonly string[];
  atUs: ArrayLike<number>;
  value: ArrayLike<number>;
  kind: readonly string[];
  seq: ArrayLike<number>;
  receivedUs: ArrayLike<number>;
}

/** The columns COPY_READINGS_SQL lists, in that order. */
export const COPY_READINGS_SQL =
  'COPY billing.readings (meter_id, register, at, value, kind, seq, received_at) FROM STDIN (FORMAT binary)';

/**
 * Rows order[0], order[1], … of the readings in COPY's binary format (signature, flags and
 * header extension, then per row its field count and each field's length and bytes, then -1):
 * text as ASCII (contract-validated, as above), instants as microseconds since 2000-01-01Z.
 */
export function readingsCopyData(rows: ReadingRows, order: Uint32Array): Buffer {
  const n = order.length;
  // Per row: field count (2), 7 lengths (28), 4 int64 (32), and the three strings.
  let bytes = 19 + 2 + n * 62;
  for (let k = 0; k < n; k++) {
    const i = order[k]!;
    bytes += rows.meterId[i]!.length + rows.register[i]!.length + rows.kind[i]!.length;
  }
  const out = Buffer.allocUnsafe(bytes);
  COPY_SIGNATURE.copy(out, 0);
  out.writeInt32BE(0, 11);
  out.writeInt32BE(0, 15);
  let at = 19;
  const text = (s: string): void => {
    const len = s.length;
    out.writeInt32BE(len, at);
    at += 4;
    for (let c = 0; c < len; c++) out[at + c] = s.charCodeAt(c);
    at += len;
  };
  const int8 = (v: number): void => {
    const high = Math.floor(v / TWO_32);
    out.writeInt32BE(8, at);
    out.writeInt32BE(high, at + 4);
    out.writeUInt32BE(v - high * TWO_32, at + 8);
    at += 12;
  };
  for (let k = 0; k < n; k++) {
    const i = order[k]!;
    out.writeInt16BE(7, at);
    at += 2;
    text(rows.meterId[i]!);
    text(rows.register[i]!);
    int8(rows.atUs[i]!);
    int8(rows.value[i]!);
    text(rows.kind[i]!);
    int8(rows.seq[i]!);
    int8(rows.receivedUs[i]!);
  }
  out.writeInt16BE(-1, at);
  return out;
}
