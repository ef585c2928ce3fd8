import type { CoverageStatus } from '@meterlink/coverage-domain';

/**
 * A meter's coverage state as stored: what the domain state holds, with carrier and region as
 * dictionary numbers, and whether the meter reports slowly (its aggregate class).
 */
export interface StoredMeterState {
  status: CoverageStatus;
  slow: boolean;
  badReports: number;
  goodReports: number;
  lastReportAt: number;
  lastSeq: number;
  deadline: number;
  carrierIdx: number;
  regionIdx: number;
  /** The meter.connectivity.v1 partition its reports arrive on (its silence waits for that one). */
  partition: number;
  iccid: string;
}

/**
 * Fixed binary layout, 29 bytes plus the ICCID in BCD (39 for a 19-digit ICCID), so a meter
 * costs about its id plus 40 bytes in a listpack bucket. Changing it means a new format byte (and
 * decoding both) or a rebuild.
 *
 *   0      format (1)
 *   1      status (0 ok, 1 degraded, 2 lost) | 0x10 when the meter reports slowly
 *   2, 3   bad and good report runs (saturate at 255)
 *   4-9    lastReportAt, epoch ms, u48
 *   10-15  lastSeq, u48 (saturates)
 *   16-21  deadline, epoch ms, u48
 *   22-23  carrier number, 24-25 region number (u16)
 *   26-27  input partition (u16)
 *   28     ICCID digit count | 0x80 when it ends in F
 *   29-    ICCID digits, two per byte
 */
export const FORMAT = 1;
export const STATUS_OFFSET = 1;
export const DEADLINE_OFFSET = 16;
const HEADER_BYTES = 29;
const ICCID_LENGTH_OFFSET = 28;
const U48_MAX = 2 ** 48 - 1;
const STATUSES: readonly CoverageStatus[] = ['ok', 'degraded', 'lost'];

const u48 = (value: number): number => Math.min(U48_MAX, Math.max(0, Math.floor(value)));
const u8 = (value: number): number => Math.min(255, Math.max(0, Math.floor(value)));

export function encodeMeterState(state: StoredMeterState): Buffer {
  const trailingF = state.iccid.endsWith('F');
  const digits = trailingF ? state.iccid.slice(0, -1) : state.iccid;
  if (!/^[0-9]{1,31}$/.test(digits)) throw new Error(`ICCID ${state.iccid} cannot be packed`);
  if (state.carrierIdx > 0xffff || state.regionIdx > 0xffff || state.partition > 0xffff)
    throw new Error('carrier, region or partition number out of range');
  // Every byte is written below; the pooled allocation saves a zero-fill and GC work per write.
  const out = Buffer.allocUnsafe(HEADER_BYTES + Math.ceil(digits.length / 2));
  out[0] = FORMAT;
  out[STATUS_OFFSET] = STATUSES.indexOf(state.status) | (state.slow ? 0x10 : 0);
  out[2] = u8(state.badReports);
  out[3] = u8(state.goodReports);
  out.writeUIntBE(u48(state.lastReportAt), 4, 6);
  out.writeUIntBE(u48(state.lastSeq), 10, 6);
  out.writeUIntBE(u48(state.deadline), DEADLINE_OFFSET, 6);
  out.writeUInt16BE(state.carrierIdx, 22);
  out.writeUInt16BE(state.regionIdx, 24);
  out.writeUInt16BE(state.partition, 26);
  out[ICCID_LENGTH_OFFSET] = digits.length | (trailingF ? 0x80 : 0);
  for (let i = 0; i < digits.length; i += 2) {
    const high = digits.charCodeAt(i) - 48;
    const low = i + 1 < digits.length ? digits.charCodeAt(i + 1) - 48 : 0;
    out[HEADER_BYTES + i / 2] = (high << 4) | low;
  }
  return out;
}

export function decodeMeterState(packed: Buffer): StoredMeterState {
  if (packed.length < HEADER_BYTES || packed[0] !== FORMAT)
    throw new Error(`unknown coverage state format ${packed[0]}`);
  const statusByte = packed[STATUS_OFFSET]!;
  const status = STATUSES[statusByte & 0x0f];
  if (!status) throw new Error(`unknown coverage status ${statusByte & 0x0f}`);
  const lengthByte = packed[ICCID_LENGTH_OFFSET]!;
  const count = lengthByte & 0x1f;
  let iccid = '';
  for (let i = 0; i < count; i++) {
    const byte = packed[HEADER_BYTES + (i >> 1)]!;
    iccid += String((i & 1) === 0 ? byte >> 4 : byte & 0x0f);
  }
  if (lengthByte & 0x80) iccid += 'F';
  return {
    status,
    slow: (statusByte & 0x10) !== 0,
    badReports: packed[2]!,
    goodReports: packed[3]!,
    lastReportAt: packed.readUIntBE(4, 6),
    lastSeq: packed.readUIntBE(10, 6),
    deadline: packed.readUIntBE(DEADLINE_OFFSET, 6),
    carrierIdx: packed.readUInt16BE(22),
    regionIdx: packed.readUInt16BE(24),
    partition: packed.readUInt16BE(26),
    iccid,
  };
}
