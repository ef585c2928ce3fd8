/**
 * The open-loop schedule of one load phase, fixed before the first message is sent: message `i`
 * is due at `startMs + i × 1000 / rate`, belongs to meter `i mod meters` and carries that meter's
 * seq `seqBase + ⌊i / meters⌋`. Every meter therefore sends at the same steady rate with a
 * strictly increasing seq, and a record read back from Kafka maps to exactly one message (or to
 * none), which is what the loss, duplicate and latency counts rest on.
 */
export interface ScheduleSpec {
  ratePerS: number;
  durationS: number;
  meters: number;
  seqBase: number;
  /** Wall-clock ms (the clock Kafka stamps records with) of message 0. */
  startMs: number;
}

export class Schedule {
  readonly total: number;
  readonly ratePerS: number;
  readonly durationS: number;
  readonly meters: number;
  readonly seqBase: number;
  readonly startMs: number;
  readonly endMs: number;
  private readonly perMsgMs: number;

  constructor(spec: ScheduleSpec) {
    if (!(spec.ratePerS > 0)) throw new Error('rate must be > 0');
    if (!(spec.durationS > 0)) throw new Error('duration must be > 0');
    if (!Number.isInteger(spec.meters) || spec.meters < 1) throw new Error('meters must be >= 1');
    this.ratePerS = spec.ratePerS;
    this.durationS = spec.durationS;
    this.meters = spec.meters;
    this.seqBase = spec.seqBase;
    this.startMs = spec.startMs;
    this.total = Math.max(1, Math.round(spec.ratePerS * spec.durationS));
    this.perMsgMs = 1000 / spec.ratePerS;
    this.endMs = this.startMs + this.total * this.perMsgMs;
  }

  scheduledMs(i: number): number {
    return this.startMs + i * this.perMsgMs;
  }

  meterOf(i: number): number {
    return i % this.meters;
  }

  seqOf(i: number): number {
    return this.seqBase + Math.floor(i / this.meters);
  }

  /** The message a (meter, seq) pair stands for, or -1 when it is not part of this schedule. */
  indexOf(meterIndex: number, seq: number): number {
    if (!Number.isInteger(meterIndex) || meterIndex < 0 || meterIndex >= this.meters) return -1;
    const round = seq - this.seqBase;
    if (!Number.isInteger(round) || round < 0) return -1;
    const i = round * this.meters + meterIndex;
    return i < this.total ? i : -1;
  }

  /** How many messages are due at wall time `nowMs` (all of them once the schedule is over). */
  dueBy(nowMs: number): number {
    if (nowMs < this.startMs) return 0;
    return Math.min(this.total, Math.floor((nowMs - this.startMs) / this.perMsgMs) + 1);
  }
}

/**
 * A seq base above every seq an earlier run on the same stack can have used: ingestion's dedupe
 * state (Redis, persistent) would otherwise drop this run's messages as replays. Earlier runs
 * started at least their own duration before now and no meter sends 1,000 messages per second,
 * so the wall clock in ms, minus a margin for the probe seqs just below the base, is always ahead.
 */
export function freshSeqBase(nowMs: number = Date.now()): number {
  return nowMs + PROBE_SEQ_SPAN;
}

/** Probe messages of a phase use seqs in [seqBase − PROBE_SEQ_SPAN, seqBase). */
export const PROBE_SEQ_SPAN = 1000;
