import { performance } from 'node:perf_hooks';
import type { KeyObject } from 'node:crypto';
import { DeliveryCounter, type DeliveryReport } from './analysis';
import { CpuMeter, type CpuReport } from './cpu';
import type { BenchMeter } from './fleet';
import type { BenchKafka, Offsets } from './kafka';
import { runOpenLoad, type LoadResult } from './load';
import { signedTelemetryJson, telemetryJson } from './payload';
import { pollUntil } from './poll';
import {
  connectPublisher,
  route,
  type LoadPublisher,
  type PublisherKind,
  type Route,
} from './publisher';
import { freshSeqBase, PROBE_SEQ_SPAN, Schedule } from './schedule';

export type PhaseKind = 'baseline' | 'ingestion' | 'generator';

export interface PhaseSpec {
  kind: PhaseKind;
  label: string;
  ratePerS: number;
  /** Offered more than the system can take, to measure its capacity ("max"). */
  saturating: boolean;
  durationS: number;
  warmupS: number;
  /** MQTT topic of meter m's telemetry in this phase. */
  topicOf: (meter: BenchMeter) => string;
  /** Where the phase's messages end up, one record each; none for the generator check. */
  measured?: {
    topic: string;
    meterOfKey: (key: Buffer) => number;
    /** Further topics whose growth is worth reporting (offset deltas only). */
    alsoCount: string[];
    /**
     * Where to send a few more (foreign) messages after the load, for a path that holds the
     * end of its input until more arrives (kcat).
     */
    pushTailTo?: string;
  };
}

export interface PhaseContext {
  kafka: BenchKafka;
  meters: BenchMeter[];
  /** Set for a signed fleet. */
  signingKeys: KeyObject[] | undefined;
  publisher: PublisherKind;
  connections: number;
  mqtt: { host: string; port: number; username: string; password: string };
  /** Processes whose CPU time is reported, by name. */
  cpuPids: () => Record<string, number | undefined>;
  drainIdleS: number;
  drainMaxS: number;
  log: (line: string) => void;
}

export interface PhaseReport {
  kind: PhaseKind;
  label: string;
  saturating: boolean;
  offeredRatePerS: number;
  durationS: number;
  warmupS: number;
  generator: LoadResult;
  delivery?: DeliveryReport;
  /** Records appended to other topics during the phase (offset deltas). */
  alsoAppended?: Record<string, number>;
  /**
   * The wait for the rest after the load. `stillArriving`: it ended at --drain-max-s while
   * records were still coming, so messages counted as lost may only be late.
   */
  drain?: { waitedS: number; complete: boolean; stillArriving: boolean };
  cpuCores: CpuReport;
  /**
   * CPU time per message sent, in µs, per process, from the start of the load until the drain
   * ended (so the backlog a saturated service works off after the schedule is counted too).
   */
  cpuUsPerMessage?: Record<string, number>;
}

async function connectAll(ctx: PhaseContext, kind: PhaseKind): Promise<LoadPublisher[]> {
  return Promise.all(
    Array.from({ length: ctx.connections }, (_, n) =>
      connectPublisher(ctx.publisher, {
        host: ctx.mqtt.host,
        port: ctx.mqtt.port,
        clientId: `bench-loadgen-${kind}-${n}`,
        username: ctx.mqtt.username,
        password: ctx.mqtt.password,
      }),
    ),
  );
}

function payloadFn(ctx: PhaseContext, schedule: Schedule): (i: number) => string {
  const { meters, signingKeys } = ctx;
  const build = (i: number): string => {
    const meter = meters[schedule.meterOf(i)]!;
    return signingKeys
      ? signedTelemetryJson(
          meter,
          schedule.seqOf(i),
          schedule.scheduledMs(i),
          signingKeys[meter.index]!,
        )
      : telemetryJson(meter, schedule.seqOf(i), schedule.scheduledMs(i));
  };
  if (!signingKeys) return build;
  // An ES256 signature costs ~0.1 ms: signing on the fly would make the generator the
  // bottleneck, so the whole schedule is signed up front (its times are fixed in advance).
  ctx.log(`  signing ${schedule.total.toLocaleString('en')} messages before the phase starts`);
  const signed = Array.from({ length: schedule.total }, (_, i) => build(i));
  return (i) => signed[i]!;
}

/**
 * Sends a few messages through the path under test and waits until Kafka has them: proof that the
 * whole path works (credentials, ACLs, subscription, fleet view) before any load is offered. The
 * probes are ordinary telemetry of the last bench meter, with seqs just below the phase's base.
 */
async function probe(ctx: PhaseContext, spec: PhaseSpec, seqBase: number): Promise<void> {
  if (!spec.measured) return;
  const { topic } = spec.measured;
  const [publisher] = await connectAll({ ...ctx, connections: 1 }, spec.kind);
  const meter = ctx.meters[ctx.meters.length - 1]!;
  const target = route(spec.topicOf(meter));
  const before = await ctx.kafka.endOffsets(topic);
  let sent = 0;
  let lastSent = 0;
  try {
    await pollUntil(
      async () => {
        if ((await ctx.kafka.appendedSince(topic, before)) > 0) return true;
        if (Date.now() - lastSent > 2_000 && sent < PROBE_SEQ_SPAN) {
          const seq = seqBase - PROBE_SEQ_SPAN + sent++;
          const json = ctx.signingKeys
            ? signedTelemetryJson(meter, seq, Date.now(), ctx.signingKeys[meter.index]!)
            : telemetryJson(meter, seq, Date.now());
          publisher!.enqueue(target, json);
          publisher!.flush();
          lastSent = Date.now();
        }
        return false;
      },
      {
        timeoutMs: 90_000,
        intervalMs: 100,
        what: `a probe message on ${spec.topicOf(meter)} to reach ${topic} (see the service logs; ingestion may have rejected it: ingest.rejected.v1)`,
      },
    );
  } finally {
    await publisher!.close();
  }
}

/**
 * kcat holds back the end of its input until more arrives (measured with kcat 1.7.1: the last
 * two 390-byte lines stay until EOF, six more lines release them): a few KB of foreign messages
 * after the load let the last real ones through without stopping the bridge.
 */
const TAIL_MESSAGES = 8;

async function pushTail(ctx: PhaseContext, kind: PhaseKind, topic: string): Promise<void> {
  const [publisher] = await connectAll({ ...ctx, connections: 1 }, kind);
  try {
    for (let k = 0; k < TAIL_MESSAGES; k++) {
      publisher!.enqueue(route(topic), JSON.stringify({ tail: k, pad: 'x'.repeat(512) }));
    }
    publisher!.flush();
    await publisher!.whenIdle(10_000);
  } finally {
    await publisher!.close();
  }
}

/**
 * After the last message was sent, waits for the system to deliver the rest: until every
 * expected record is there (and nothing more arrives for a second), or nothing new arrived for
 * `drainIdleS`, or `drainMaxS` passed.
 */
async function drain(
  ctx: PhaseContext,
  topic: string,
  start: Offsets,
  expected: number,
): Promise<PhaseReport['drain'] & object> {
  const began = Date.now();
  let last = -1;
  let changedAt = began;
  let complete = false;
  await pollUntil(
    async () => {
      const now = Date.now();
      const appended = await ctx.kafka.appendedSince(topic, start);
      if (appended !== last) {
        last = appended;
        changedAt = now;
      }
      if (appended >= expected && now - changedAt >= 1_000) {
        complete = true;
        return true;
      }
      return now - changedAt >= ctx.drainIdleS * 1000 || now - began >= ctx.drainMaxS * 1000;
    },
    { timeoutMs: (ctx.drainMaxS + 60) * 1000, intervalMs: 250, what: `${topic} to drain` },
  );
  const now = Date.now();
  return {
    waitedS: (now - began) / 1000,
    complete,
    stillArriving: !complete && now - changedAt < ctx.drainIdleS * 1000,
  };
}

export async function runPhase(
  ctx: PhaseContext,
  spec: PhaseSpec,
  beforeRead?: () => Promise<void>,
): Promise<PhaseReport> {
  const seqBase = freshSeqBase();
  ctx.log(`${spec.label}: probing the path`);
  await probe(ctx, spec, seqBase);
  const publishers = await connectAll(ctx, spec.kind);
  const routes: Route[] = ctx.meters.map((m) => route(spec.topicOf(m)));
  const starts = new Map<string, Offsets>();
  for (const t of spec.measured ? [spec.measured.topic, ...spec.measured.alsoCount] : []) {
    starts.set(t, await ctx.kafka.endOffsets(t));
  }
  // The schedule starts a moment from now, so that message 0 is not already late; with signed
  // telemetry, after the time it takes to sign the whole schedule up front.
  const total = Math.max(1, Math.round(spec.ratePerS * spec.durationS));
  const schedule = new Schedule({
    ratePerS: spec.ratePerS,
    durationS: spec.durationS,
    meters: ctx.meters.length,
    seqBase,
    startMs: Date.now() + 500 + (ctx.signingKeys ? estimateSigningMs(ctx, total) : 0),
  });
  const payloadOf = payloadFn(ctx, schedule);
  if (Date.now() > schedule.startMs - 100)
    throw new Error('signing the schedule took longer than estimated: run again');
  ctx.log(
    `${spec.label}: ${schedule.total.toLocaleString('en')} messages at ${spec.ratePerS.toLocaleString('en')} msg/s for ${spec.durationS} s over ${publishers.length} connections`,
  );
  const cpu = new CpuMeter(ctx.cpuPids());
  cpu.start();
  let generator: LoadResult;
  try {
    generator = await runOpenLoad({
      schedule,
      publishers,
      routeOf: (m) => routes[m]!,
      payloadOf,
      ackTimeoutMs: Math.max(30_000, ctx.drainMaxS * 1000),
    });
  } finally {
    await Promise.all(publishers.map((p) => p.close().catch(() => undefined)));
  }
  const cpuCores = cpu.stop();
  ctx.log(
    `${spec.label}: sent ${generator.sent.toLocaleString('en')} at ${Math.round(generator.achievedRatePerS).toLocaleString('en')} msg/s (lag p99 ${generator.lagMs.p99.toFixed(1)} ms)`,
  );
  const report: PhaseReport = {
    kind: spec.kind,
    label: spec.label,
    saturating: spec.saturating,
    offeredRatePerS: spec.ratePerS,
    durationS: spec.durationS,
    warmupS: spec.warmupS,
    generator,
    cpuCores,
  };
  if (!spec.measured) return report;

  const { topic } = spec.measured;
  if (spec.measured.pushTailTo) await pushTail(ctx, spec.kind, spec.measured.pushTailTo);
  report.drain = await drain(ctx, topic, starts.get(topic)!, schedule.total);
  report.cpuUsPerMessage = Object.fromEntries(
    Object.entries(cpu.secondsSoFar()).map(([name, s]) => [
      name,
      Math.round((s * 1e7) / Math.max(1, generator.sent)) / 10,
    ]),
  );
  await beforeRead?.();
  const alsoAppended: Record<string, number> = {};
  for (const t of spec.measured.alsoCount) {
    alsoAppended[t] = await ctx.kafka.appendedSince(t, starts.get(t)!);
  }
  report.alsoAppended = alsoAppended;
  const end = await ctx.kafka.endOffsets(topic);
  ctx.log(`${spec.label}: reading ${topic} back (drained in ${report.drain.waitedS.toFixed(1)} s)`);
  const counter = new DeliveryCounter(schedule, spec.warmupS, spec.measured.meterOfKey);
  await ctx.kafka.readRange(topic, starts.get(topic)!, end, (k, v, ts) => counter.record(k, v, ts));
  report.delivery = counter.report();
  return report;
}

/** How long signing `total` messages will take, measured on a sample, with a margin. */
function estimateSigningMs(ctx: PhaseContext, total: number): number {
  const meter = ctx.meters[0]!;
  const sample = 200;
  const started = performance.now();
  for (let k = 0; k < sample; k++) {
    signedTelemetryJson(meter, k, Date.now(), ctx.signingKeys![meter.index]!);
  }
  return Math.ceil(((performance.now() - started) / sample) * total * 1.5) + 2_000;
}
