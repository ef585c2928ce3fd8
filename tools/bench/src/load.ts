import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import type { LoadPublisher, PublisherStats, Route } from './publisher';
import type { Schedule } from './schedule';
import { Histogram, type Percentiles } from './stats';

export interface LoadResult {
  scheduled: number;
  /** Messages handed to a connection (written, or held for the broker's flow control). */
  sent: number;
  /** sent / (time of the last send − schedule start): what the generator achieved. */
  achievedRatePerS: number;
  /** Actual send time − scheduled time, per message, in ms. */
  lagMs: Percentiles;
  eventLoopDelayMs: { p99: number; max: number };
  /** Generator process CPU over the phase, in cores (1.0 = one core busy). */
  generatorCpuCores: number;
  lastSendMs: number;
  acked: number;
  refused: Record<string, number>;
  unacknowledged: number;
  maxInflightPerConnection: number;
  maxQueuedPerConnection: number;
  maxSocketBufferedBytes: number;
  /** Wall clock minus the monotonic clock the schedule ran on, at the end (0 = no drift). */
  clockDriftMs: number;
  errors: string[];
}

export interface LoadSpec {
  schedule: Schedule;
  publishers: LoadPublisher[];
  /** Route of meter `m`; meter `m` always goes over connection `m mod connections`. */
  routeOf: (meterIndex: number) => Route;
  payloadOf: (i: number) => string;
  /** How long to wait, after the last send, for the broker's PUBACKs. */
  ackTimeoutMs: number;
}

/**
 * Open-loop load: every ~1 ms, everything that is due by the schedule is handed to its
 * connection, however far behind the generator or the broker is, so that a slow system under
 * test shows up as latency measured from the scheduled time instead of as fewer messages sent
 * (no coordinated omission). One socket write per connection per tick.
 */
export async function runOpenLoad(spec: LoadSpec): Promise<LoadResult> {
  const { schedule, publishers } = spec;
  // The schedule is in wall-clock ms (Kafka's clock); it is driven by the monotonic clock so a
  // wall-clock step during the run cannot skip or replay messages.
  const wallOffset = Date.now() - performance.now();
  const now = (): number => performance.now() + wallOffset;
  const lag = new Histogram();
  const loopDelay = monitorEventLoopDelay({ resolution: 1 });
  const cpuStart = process.cpuUsage();
  const wallStart = performance.now();
  let next = 0;
  let lastSendMs = schedule.startMs;
  loopDelay.enable();

  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const t = now();
      const due = schedule.dueBy(t);
      if (due > next) {
        for (let i = next; i < due; i++) {
          const meter = schedule.meterOf(i);
          publishers[meter % publishers.length]!.enqueue(spec.routeOf(meter), spec.payloadOf(i));
          lag.record(t - schedule.scheduledMs(i));
        }
        for (const p of publishers) p.flush();
        next = due;
        lastSendMs = t;
      }
      if (next >= schedule.total) {
        resolve();
        return;
      }
      // Sleep until the next message is due, but at most 1 ms, so a tick carries few messages.
      const wait = Math.min(1, Math.max(0, schedule.scheduledMs(next) - now()));
      setTimeout(tick, wait);
    };
    setTimeout(tick, Math.max(0, schedule.startMs - now()));
  });

  const errors: string[] = [];
  await Promise.all(
    publishers.map((p) =>
      p.whenIdle(spec.ackTimeoutMs).catch((e: Error) => errors.push(e.message)),
    ),
  );
  loopDelay.disable();
  const cpu = process.cpuUsage(cpuStart);
  const elapsedMs = performance.now() - wallStart;
  const stats = publishers.map((p) => p.stats());
  const refused: Record<string, number> = {};
  for (const s of stats)
    for (const [code, count] of Object.entries(s.refused))
      refused[code] = (refused[code] ?? 0) + count;
  const sum = (f: (s: PublisherStats) => number): number => stats.reduce((a, s) => a + f(s), 0);
  const max = (f: (s: PublisherStats) => number): number => Math.max(0, ...stats.map(f));
  const sent = sum((s) => s.enqueued);
  const refusedTotal = Object.values(refused).reduce((a, b) => a + b, 0);
  return {
    scheduled: schedule.total,
    sent,
    achievedRatePerS: sent / (Math.max(1, lastSendMs - schedule.startMs) / 1000),
    lagMs: lag.percentiles(),
    eventLoopDelayMs: { p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 },
    generatorCpuCores: (cpu.user + cpu.system) / 1000 / elapsedMs,
    lastSendMs,
    acked: sum((s) => s.acked),
    refused,
    unacknowledged: sent - sum((s) => s.acked) - refusedTotal,
    maxInflightPerConnection: max((s) => s.maxInflight),
    maxQueuedPerConnection: max((s) => s.maxQueued),
    maxSocketBufferedBytes: max((s) => s.maxSocketBufferedBytes),
    clockDriftMs: Date.now() - now(),
    errors,
  };
}
