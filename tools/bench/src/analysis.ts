import { extractSeq } from './payload';
import type { Schedule } from './schedule';
import { percentilesOf, type Percentiles } from './stats';

export interface DeliveryReport {
  /** Messages the schedule contained. */
  expected: number;
  /** Distinct scheduled messages found in Kafka. */
  delivered: number;
  /** Scheduled messages never found in Kafka by the end of the drain. */
  lost: number;
  /** Records beyond the first for a message. */
  duplicated: number;
  /** Records in the range that belong to no scheduled message (probes, earlier runs). */
  foreign: number;
  /**
   * Distinct messages appended per second over the steady window [start + warmup, end of
   * schedule]: for a system that keeps up this is the offered rate, for a saturated one its
   * capacity.
   */
  deliveredRatePerS: number;
  steadyWindowS: number;
  /** Lowest and highest whole-second append counts in the steady window. */
  perSecond: { min: number; max: number };
  /** Kafka append time − scheduled send time (ms) of the messages scheduled in the steady window. */
  latencyMs: Percentiles;
  /** The same over every delivered message, warm-up included. */
  latencyAllMs: Percentiles;
  /** Last append − end of the schedule: how long the system needed to catch up. */
  drainMs: number;
  /** The slowest messages: where in the schedule (s from its start) the outliers were. */
  slowest: { meter: number; seq: number; scheduledAtS: number; latencyMs: number }[];
}

/**
 * Matches records read back from Kafka to the schedule. Each record names its meter (key) and
 * seq (value); the schedule turns that into a message index, so lost and duplicated messages are
 * exact, and the record's timestamp (the broker's append time) gives the latency of that very
 * message from its scheduled send time.
 */
export class DeliveryCounter {
  private readonly seen: Uint8Array;
  private readonly latency: Float32Array;
  private readonly perSecond: Uint32Array;
  private duplicated = 0;
  private foreign = 0;
  private lastAppendMs = 0;
  private readonly steadyFromMs: number;

  constructor(
    private readonly schedule: Schedule,
    private readonly warmupS: number,
    /** Meter index of a record key, -1 for a key that is no bench meter's. */
    private readonly meterOfKey: (key: Buffer) => number,
  ) {
    this.seen = new Uint8Array(schedule.total);
    this.latency = new Float32Array(schedule.total);
    this.perSecond = new Uint32Array(Math.ceil(schedule.durationS) + 1);
    this.steadyFromMs = schedule.startMs + warmupS * 1000;
  }

  record(key: Buffer | null, value: Buffer | null, appendMs: number): void {
    const meter = key ? this.meterOfKey(key) : -1;
    const i = meter < 0 || !value ? -1 : this.schedule.indexOf(meter, extractSeq(value));
    if (i < 0) {
      this.foreign++;
      return;
    }
    if (this.seen[i]! > 0) {
      this.duplicated++;
      if (this.seen[i]! < 255) this.seen[i]!++;
      return;
    }
    this.seen[i] = 1;
    this.latency[i] = appendMs - this.schedule.scheduledMs(i);
    if (appendMs > this.lastAppendMs) this.lastAppendMs = appendMs;
    const second = Math.floor((appendMs - this.schedule.startMs) / 1000);
    if (second >= 0 && second < this.perSecond.length) this.perSecond[second]!++;
  }

  report(): DeliveryReport {
    const { schedule } = this;
    let delivered = 0;
    let steadyCount = 0;
    for (let i = 0; i < schedule.total; i++) {
      if (this.seen[i]) {
        delivered++;
        if (schedule.scheduledMs(i) >= this.steadyFromMs) steadyCount++;
      }
    }
    const steady = new Float32Array(steadyCount);
    const all = new Float32Array(delivered);
    let s = 0;
    let a = 0;
    let inWindow = 0;
    for (let i = 0; i < schedule.total; i++) {
      if (!this.seen[i]) continue;
      const latency = this.latency[i]!;
      all[a++] = latency;
      if (schedule.scheduledMs(i) >= this.steadyFromMs) steady[s++] = latency;
      const appendMs = schedule.scheduledMs(i) + latency;
      if (appendMs >= this.steadyFromMs && appendMs <= schedule.endMs) inWindow++;
    }
    const windowS = Math.max(0.001, (schedule.endMs - this.steadyFromMs) / 1000);
    const slowest = this.slowest(5);
    const fullSeconds: number[] = [];
    for (let sec = Math.ceil(this.warmupS); sec + 1 <= schedule.durationS; sec++) {
      fullSeconds.push(this.perSecond[sec] ?? 0);
    }
    return {
      expected: schedule.total,
      delivered,
      lost: schedule.total - delivered,
      duplicated: this.duplicated,
      foreign: this.foreign,
      deliveredRatePerS: inWindow / windowS,
      steadyWindowS: windowS,
      perSecond: {
        min: fullSeconds.length ? Math.min(...fullSeconds) : NaN,
        max: fullSeconds.length ? Math.max(...fullSeconds) : NaN,
      },
      latencyMs: percentilesOf(steady),
      latencyAllMs: percentilesOf(all),
      drainMs: delivered > 0 ? this.lastAppendMs - schedule.endMs : NaN,
      slowest,
    };
  }

  private slowest(n: number): DeliveryReport['slowest'] {
    const top: number[] = [];
    for (let i = 0; i < this.schedule.total; i++) {
      if (!this.seen[i]) continue;
      if (top.length < n || this.latency[i]! > this.latency[top[top.length - 1]!]!) {
        top.push(i);
        top.sort((a, b) => this.latency[b]! - this.latency[a]!);
        if (top.length > n) top.pop();
      }
    }
    return top.map((i) => ({
      meter: this.schedule.meterOf(i),
      seq: this.schedule.seqOf(i),
      scheduledAtS: Math.round((this.schedule.scheduledMs(i) - this.schedule.startMs) / 10) / 100,
      latencyMs: Math.round(this.latency[i]! * 10) / 10,
    }));
  }
}
