import type { MeterReadingRecord } from '@meterlink/contracts';

/** PostgreSQL counts microseconds from 2000-01-01T00:00:00Z. */
export const PG_EPOCH_MS = Date.UTC(2000, 0, 1);

/**
 * Instants that Date.parse reads exactly: whole or millisecond seconds (the contract allows more
 * digits, which PostgreSQL keeps to the microsecond) and years 1900 to 2199, where both calendars
 * agree and microseconds since 2000 stay below 2^53 (exact in a double).
 */
const EXACT_ISO = /^(?:19|2[01])\d\d-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,3})?(?:Z|[+-]\d\d:\d\d)$/;

/** Microseconds since 2000-01-01Z of an ISO instant, or NaN when it is not exact (see above). */
export function exactMicros(iso: string): number {
  if (!EXACT_ISO.test(iso)) return NaN;
  const ms = Date.parse(iso);
  return Number.isFinite(ms) ? (ms - PG_EPOCH_MS) * 1000 : NaN;
}

/**
 * A batch of readings as the ledger statement's columns, one entry per reading in offset order:
 * what the statement stores, nothing else (no record object per reading is kept until the
 * batch's transaction commits). Instants are microseconds since 2000-01-01Z (PostgreSQL's own
 * representation); one that is not exact to the millisecond is NaN there and kept as sent in
 * `inexact`, and its batch is sent as text.
 */
export class ReadingColumns {
  n = 0;
  readonly offsets: string[] = [];
  readonly meterId: string[] = [];
  readonly register: string[] = [];
  readonly kind: string[] = [];
  readonly value: number[] = [];
  readonly seq: number[] = [];
  readonly atUs: number[] = [];
  readonly receivedUs: number[] = [];
  /** Row → [at, receivedAt] as sent, for rows with an instant that is not exact. */
  inexact: Map<number, [string, string]> | undefined;
  private lastAt = '';
  private lastAtUs = NaN;
  private lastReceived = '';
  private lastReceivedUs = NaN;

  /** Appends a reading the contract schema accepted. */
  add(r: MeterReadingRecord, offset: string): void {
    // A fleet reports interval by interval: consecutive readings mostly share their instants.
    if (r.at !== this.lastAt) this.lastAtUs = exactMicros((this.lastAt = r.at));
    if (r.receivedAt !== this.lastReceived)
      this.lastReceivedUs = exactMicros((this.lastReceived = r.receivedAt));
    const at = this.lastAtUs;
    const received = this.lastReceivedUs;
    const i = this.push(offset, r.meterId, r.register, r.kind, r.value, r.seq, at, received);
    if (Number.isNaN(at) || Number.isNaN(received))
      (this.inexact ??= new Map()).set(i, [r.at, r.receivedAt]);
  }

  push(
    offset: string,
    meterId: string,
    register: string,
    kind: string,
    value: number,
    seq: number,
    atUs: number,
    receivedUs: number,
  ): number {
    const i = this.n++;
    this.offsets.push(offset);
    this.meterId.push(meterId);
    this.register.push(register);
    this.kind.push(kind);
    this.value.push(value);
    this.seq.push(seq);
    this.atUs.push(atUs);
    this.receivedUs.push(receivedUs);
    return i;
  }

  /** The instant of row i as ISO text (as sent when not exact). */
  atText(i: number): string {
    return this.inexact?.get(i)?.[0] ?? isoOf(this.atUs[i]!);
  }

  receivedAtText(i: number): string {
    return this.inexact?.get(i)?.[1] ?? isoOf(this.receivedUs[i]!);
  }
}

const isoOf = (us: number): string => new Date(us / 1000 + PG_EPOCH_MS).toISOString();
