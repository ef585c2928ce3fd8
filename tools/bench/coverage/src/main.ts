import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { TOPICS } from '@meterlink/contracts';
import { createKafka, ensureTopics } from '@meterlink/kafka';
import { createRedis, type Redis } from '@meterlink/redis';
import { metricValue } from '@meterlink/testing';
import type { Admin } from 'kafkajs';
import { MonitorProcess, REPO_ROOT } from './monitor-process';
import { benchMeter, connectivityRecord, fleetRecord, type FleetShape } from './fleet';
import { BenchProducer, EventsWatcher, groupPosition, type SeenEvent } from './kafka-io';
import { USAGE, parseOptions } from './options';
import { pace, type PaceResult } from './pacer';
import { accountCoverageKeys, deleteCoverageKeys, redisMemory } from './redis-memory';
import { percentiles, type Percentiles } from './stats';

/**
 * Coverage-monitor benchmark (issue 5): a million meters fed through Kafka as
 * meter.connectivity.v1 records, the way ingestion writes them, into a coverage-monitor started
 * from dist/. Measures the input rate it sustains, report → event latency, silence-detection
 * lateness and Redis bytes per tracked meter. Run on a stack of its own: it writes a million
 * fleet records, which every later service start would replay.
 */
const GROUP = 'coverage-monitor';
const log = (message: string): void => {
  process.stdout.write(`[bench:coverage ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const round = (x: number, digits = 0): number => Math.round(x * 10 ** digits) / 10 ** digits;

interface Consumption {
  produced: PaceResult;
  /** Records the monitor committed per second, from the first to the last record of the phase. */
  consumedRate: number;
  maxLag: number;
  /** How long after the last record was produced the monitor had applied everything. */
  caughtUpAfterS: number;
}

interface ServiceSample {
  cpuSeconds: number;
  rssBytes: number;
  at: number;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help')) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const options = parseOptions(argv);
  const brokers = requireEnv('KAFKA_BROKERS').split(',');
  const redisUrl = requireEnv('REDIS_URL');
  const kafka = createKafka({ brokers, clientId: 'bench-coverage' });
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(kafka);
  const redis = createRedis(redisUrl, 'bench-coverage');
  const producer = new BenchProducer(kafka);
  await producer.connect();
  const started = new Date();
  const load = { start: loadavg().map((x) => round(x, 2)) };

  if (await redis.exists('cov:layout')) {
    if (!options.resetState)
      throw new Error('coverage state exists in this Redis; run on a stack of its own or pass --reset-state');
    log(`deleted ${await deleteCoverageKeys(redis)} cov:* keys`);
  }
  const memoryBefore = await redisMemory(redis);
  const shape: FleetShape = {
    meters: options.meters,
    silentMeters: options.silentMeters,
    degraders: options.degraders,
  };

  // 1. The fleet, straight onto fleet.meters.v1 (the registry's import is another benchmark).
  log(`producing ${options.meters} fleet records`);
  const fleetStarted = Date.now();
  await pace({
    rate: 1e9,
    total: options.meters,
    next: (() => {
      let index = 0;
      return (n: number) =>
        Array.from({ length: n }, () => {
          const m = benchMeter(index++, shape);
          return { key: m.meterId, value: JSON.stringify(fleetRecord(m)) };
        });
    })(),
    send: (records) => producer.send(TOPICS.fleetMeters.name, records),
    maxInFlight: 4,
  });
  const fleetProduceS = (Date.now() - fleetStarted) / 1000;

  // 2. The monitor, replaying the fleet before it consumes anything.
  const service = new MonitorProcess(options.port, {
    KAFKA_BROKERS: brokers.join(','),
    REDIS_URL: redisUrl,
    LOG_LEVEL: 'warn',
    NODE_OPTIONS: '--max-old-space-size=6144',
  });
  log('starting coverage-monitor (fleet view replay)');
  const replayStarted = Date.now();
  await service.start(30 * 60_000);
  const readyAfterS = (Date.now() - replayStarted) / 1000;
  const watcher = new EventsWatcher(kafka);
  await watcher.start(admin);

  const seqs = new Uint32Array(options.meters);
  const report = (index: number, now: number, rsrp = -90) => {
    const m = benchMeter(index, shape);
    const seq = (seqs[index] ?? 0) + 1;
    seqs[index] = seq;
    return { key: m.meterId, value: JSON.stringify(connectivityRecord(m, seq, now, rsrp)) };
  };
  const firstSteady = options.silentMeters + options.degraders;
  const randomSteady = (): number =>
    firstSteady + Math.floor(Math.random() * (options.meters - firstSteady));
  const send = (records: { key: string; value: string }[]) =>
    producer.send(TOPICS.meterConnectivity.name, records);
  const serviceSamples: Record<string, ServiceSample> = {};
  const sampleService = async (name: string) =>
    (serviceSamples[name] = await serviceSample(service.baseUrl));
  const redisCpu: Record<string, number> = {};
  const sampleRedisCpu = async (name: string) => (redisCpu[name] = await redisCpuSeconds(redis));

  // 3. Fill: one report from every meter at the target rate (state created for each).
  log(`fill: ${options.meters} reports at ${options.rate}/s`);
  const fillStarted = Date.now();
  await sampleService('fillStart');
  await sampleRedisCpu('fillStart');
  let fillIndex = 0;
  const fill = await consumption(admin, () =>
    pace({
      rate: options.rate,
      total: options.meters,
      next: (n, now) => Array.from({ length: n }, () => report(fillIndex++, now)),
      send,
    }),
  );
  await sampleService('fillEnd');
  await sampleRedisCpu('fillEnd');

  // 4. Steady: reports from random meters at the target rate (state updated).
  log(`steady: ${options.steadyS} s at ${options.rate}/s`);
  const steady = await consumption(admin, () =>
    pace({
      rate: options.rate,
      durationMs: options.steadyS * 1000,
      next: (n, now) => Array.from({ length: n }, () => report(randomSteady(), now)),
      send,
    }),
  );
  const steadyEnded = Date.now();
  await sampleService('steadyEnd');
  await sampleRedisCpu('steadyEnd');

  // 5. Memory, with every meter tracked and the wheel in its steady shape.
  log('measuring Redis memory');
  const memoryAfter = await redisMemory(redis);
  const accounting = await accountCoverageKeys(redis);
  const accountedBytes = Object.values(accounting.bytes).reduce((a, b) => a + b, 0);

  // 6. Latency at the latency rate: degraders send three bad reports one second apart; the
  // 30-s meters report once at the start and then fall silent.
  log(`latency: ${options.latencyS} s at ${options.latencyRate}/s`);
  const latencyStarted = Date.now();
  const scheduled: { at: number; index: number; rsrp: number; third: boolean }[] = [];
  for (let s = 0; s < options.silentMeters; s++)
    scheduled.push({ at: latencyStarted, index: s, rsrp: -90, third: false });
  const spreadMs = (options.latencyS - 10) * 1000;
  for (let d = 0; d < options.degraders; d++) {
    const first = latencyStarted + 2_000 + Math.floor((d / options.degraders) * spreadMs);
    for (let k = 0; k < 3; k++)
      scheduled.push({
        at: first + k * 1000,
        index: options.silentMeters + d,
        rsrp: -125,
        third: k === 2,
      });
  }
  scheduled.sort((a, b) => a.at - b.at);
  const thirdBadAt = new Map<string, number>();
  let cursor = 0;
  await sampleService('latencyStart');
  await sampleRedisCpu('latencyStart');
  const latencyPhase = await consumption(admin, () =>
    pace({
      rate: options.latencyRate,
      durationMs: options.latencyS * 1000,
      next: (n, now) => {
        const records: { key: string; value: string }[] = [];
        while (records.length < n && cursor < scheduled.length && scheduled[cursor]!.at <= now) {
          const item = scheduled[cursor++]!;
          records.push(report(item.index, now, item.rsrp));
          if (item.third) thirdBadAt.set(benchMeter(item.index, shape).meterId, now);
        }
        while (records.length < n) records.push(report(randomSteady(), now));
        return records;
      },
      send,
    }),
  );
  const latencyEnded = Date.now();
  await sampleService('latencyEnd');
  await sampleRedisCpu('latencyEnd');
  const silentIds = new Set(
    Array.from({ length: options.silentMeters }, (_, i) => benchMeter(i, shape).meterId),
  );
  const lostSince = (from: number) => (e: SeenEvent) =>
    e.record.type === 'meter.lost' &&
    e.record.meterId !== undefined &&
    silentIds.has(e.record.meterId) &&
    Date.parse(e.record.at) >= from;
  log('waiting for the last degradations and silences');
  const waitUntil = Date.now() + 90_000;
  while (Date.now() < waitUntil) {
    const degraded = watcher.events.filter(
      (e) => e.record.type === 'meter.degraded' && thirdBadAt.has(e.record.meterId ?? ''),
    ).length;
    const lost = watcher.events.filter(lostSince(latencyStarted)).length;
    if (degraded >= thirdBadAt.size && lost >= options.silentMeters) break;
    await sleep(500);
  }
  const degradeLatencyMs: number[] = [];
  for (const e of watcher.events) {
    if (e.record.type !== 'meter.degraded') continue;
    const sent = thirdBadAt.get(e.record.meterId ?? '');
    if (sent !== undefined) degradeLatencyMs.push(e.arrivedAt - sent);
  }
  const lateness = (from: number, to: number): number[] =>
    watcher.events
      .filter((e) => lostSince(from)(e) && Date.parse(e.record.at) < to)
      .map((e) => e.arrivedAt - Date.parse(e.record.at));
  // The 30-s meters report first in the fill, so they fall due while 20,000/s are coming in.
  const silenceAtRate = lateness(fillStarted, steadyEnded);
  const silenceDuringLatency = lateness(latencyStarted, latencyEnded + 60_000);
  const metricsText = await (await fetch(`${service.baseUrl}/metrics`)).text();

  // 7. Drain: the monitor stopped, a backlog produced, then the monitor restarted.
  let drain:
    | { records: number; produceRate: number; restartReadyS: number; drainRate: number; drainS: number }
    | undefined;
  if (options.drain > 0) {
    log(`drain: stopping the monitor, producing ${options.drain} reports, restarting`);
    await service.stop();
    const produced = await pace({
      rate: 1e9,
      total: options.drain,
      next: (n, now) => Array.from({ length: n }, () => report(randomSteady(), now)),
      send,
      maxInFlight: 4,
    });
    const before = await groupPosition(admin, GROUP, TOPICS.meterConnectivity.name);
    const restartAt = Date.now();
    await service.start(30 * 60_000);
    const restartReadyS = (Date.now() - restartAt) / 1000;
    let firstMove: number | undefined;
    let done: number | undefined;
    while (done === undefined) {
      const p = await groupPosition(admin, GROUP, TOPICS.meterConnectivity.name);
      if (firstMove === undefined && p.committed > before.committed) firstMove = Date.now();
      if (p.committed >= p.end) done = Date.now();
      else await sleep(200);
    }
    const drainS = (done - (firstMove ?? done)) / 1000;
    drain = {
      records: options.drain,
      produceRate: round(produced.achievedRate),
      restartReadyS: round(restartReadyS, 1),
      drainRate: round(drainS > 0 ? Number(before.end - before.committed) / drainS : NaN),
      drainS: round(drainS, 1),
    };
  }

  await watcher.stop();
  await service.stop();
  await producer.disconnect();
  await admin.disconnect();

  const cpuShare = (from: string, to: string): number => {
    const a = serviceSamples[from]!;
    const b = serviceSamples[to]!;
    return round((b.cpuSeconds - a.cpuSeconds) / ((b.at - a.at) / 1000), 2);
  };
  const redisShare = (from: string, to: string): number =>
    round(
      (redisCpu[to]! - redisCpu[from]!) /
        ((serviceSamples[to]!.at - serviceSamples[from]!.at) / 1000),
      2,
    );
  const result = {
    command: `npm run bench:coverage -- ${argv.join(' ')}`.trim(),
    started: started.toISOString(),
    machine: {
      cores: cpus().length,
      cpu: cpus()[0]?.model.trim(),
      memoryGiB: round(totalmem() / 2 ** 30, 1),
      node: process.version,
      loadAverageAtStart: load.start,
      loadAverageAtEnd: loadavg().map((x) => round(x, 2)),
    },
    fleet: {
      meters: options.meters,
      meterIdLength: benchMeter(0, shape).meterId.length,
      produceS: round(fleetProduceS, 1),
      monitorReadyAfterS: round(readyAfterS, 1),
    },
    sustained: {
      target: options.rate,
      fill: summarize(fill),
      steady: summarize(steady),
      monitorCpuCores: { fill: cpuShare('fillStart', 'fillEnd'), steady: cpuShare('fillEnd', 'steadyEnd') },
      redisCpuCores: { fill: redisShare('fillStart', 'fillEnd'), steady: redisShare('fillEnd', 'steadyEnd') },
      drain,
    },
    memory: {
      trackedMeters: options.meters,
      usedMemoryDeltaBytes: memoryAfter.usedMemory - memoryBefore.usedMemory,
      bytesPerMeterUsedMemory: round((memoryAfter.usedMemory - memoryBefore.usedMemory) / options.meters, 1),
      bytesPerMeterKeys: round(accountedBytes / options.meters, 1),
      byKind: Object.fromEntries(
        Object.entries(accounting.bytes).map(([k, v]) => [
          k,
          { keys: accounting.keys[k], bytes: v, perMeter: round(v / options.meters, 1) },
        ]),
      ),
      listpackBuckets: `${accounting.listpackBuckets}/${accounting.buckets}`,
      monitorRssMiB: round(serviceSamples.steadyEnd!.rssBytes / 2 ** 20),
    },
    latency: {
      inputRate: options.latencyRate,
      produced: summarize(latencyPhase),
      monitorCpuCores: cpuShare('latencyStart', 'latencyEnd'),
      redisCpuCores: redisShare('latencyStart', 'latencyEnd'),
      reportToDegradedMs: rounded(percentiles(degradeLatencyMs)),
      degradersExpected: thirdBadAt.size,
      serviceHistogramP99Bucket: histogramBucket(metricsText, 'meter.degraded', 0.99),
      monitorMeansMs: monitorMeans(metricsText),
    },
    silence: {
      lateAfterDeadlineMsDuringFillAndSteady: rounded(percentiles(silenceAtRate)),
      lateAfterDeadlineMsDuringLatency: rounded(percentiles(silenceDuringLatency)),
      silentMeters: options.silentMeters,
    },
  };
  const dir = join(REPO_ROOT, 'tmp', 'bench');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `coverage-${started.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  log(`written to ${file}`);
  await redis.quit();
}

/** Runs a producing phase while sampling how far the monitor's consumer group has got. */
async function consumption(admin: Admin, produce: () => Promise<PaceResult>): Promise<Consumption> {
  const topic = TOPICS.meterConnectivity.name;
  const start = await groupPosition(admin, GROUP, topic);
  const startedAt = Date.now();
  let maxLag = 0n;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const p = await groupPosition(admin, GROUP, topic);
      if (p.end - p.committed > maxLag) maxLag = p.end - p.committed;
      await sleep(1_000);
    }
  })();
  const produced = await produce();
  const producedAt = Date.now();
  let end = await groupPosition(admin, GROUP, topic);
  while (end.committed < end.end) {
    if (end.end - end.committed > maxLag) maxLag = end.end - end.committed;
    await sleep(100);
    end = await groupPosition(admin, GROUP, topic);
  }
  const caughtUpAt = Date.now();
  sampling = false;
  await sampler;
  return {
    produced,
    consumedRate: Number(end.committed - start.committed) / ((caughtUpAt - startedAt) / 1000),
    maxLag: Number(maxLag),
    caughtUpAfterS: (caughtUpAt - producedAt) / 1000,
  };
}

const summarize = (c: Consumption) => ({
  records: c.produced.sent,
  producedPerS: round(c.produced.achievedRate),
  consumedPerS: round(c.consumedRate),
  maxLagRecords: c.maxLag,
  caughtUpAfterS: round(c.caughtUpAfterS, 2),
});

const rounded = (p: Percentiles) => ({
  count: p.count,
  p50: round(p.p50),
  p90: round(p.p90),
  p99: round(p.p99),
  max: round(p.max),
  mean: round(p.mean),
});

async function serviceSample(baseUrl: string): Promise<ServiceSample> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  return {
    cpuSeconds: metricValue(text, 'process_cpu_seconds_total'),
    rssBytes: metricValue(text, 'process_resident_memory_bytes'),
    at: Date.now(),
  };
}

async function redisCpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const value = (name: string) => Number(new RegExp(`${name}:([0-9.]+)`).exec(info)?.[1] ?? 0);
  return value('used_cpu_sys') + value('used_cpu_user');
}

/** The smallest histogram bucket (s) holding `q` of a type's observations, from /metrics. */
function histogramBucket(text: string, type: string, q: number): number | null {
  const total = metricValue(text, 'coverage_detection_latency_seconds_count', { type });
  if (total === 0) return null;
  const buckets = [...text.matchAll(/coverage_detection_latency_seconds_bucket\{([^}]*)\} (\S+)/g)]
    .filter(([, labels]) => labels!.includes(`type="${type}"`))
    .map(([, labels, value]) => ({ le: Number(/le="([^"]+)"/.exec(labels!)?.[1]), count: Number(value) }))
    .sort((a, b) => a.le - b.le);
  return buckets.find((b) => b.count >= q * total)?.le ?? null;
}

/** Mean time per batch stage inside the monitor over the whole run (from its histograms). */
function monitorMeans(text: string): Record<string, number> {
  const mean = (name: string, labels: Record<string, string> = {}): number => {
    const count = metricValue(text, `${name}_count`, labels);
    return count > 0 ? round((metricValue(text, `${name}_sum`, labels) / count) * 1000, 1) : NaN;
  };
  const result: Record<string, number> = {
    batch: mean('coverage_batch_seconds'),
    recordsPerBatch: round(
      metricValue(text, 'coverage_batch_records_sum') /
        Math.max(1, metricValue(text, 'coverage_batch_records_count')),
    ),
  };
  for (const stage of ['read', 'plan', 'write', 'publish', 'clear'])
    result[stage] = mean('coverage_write_stage_seconds', { stage });
  return result;
}

function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: eval "$(tools/stack/stack.sh env)" first\n${USAGE}`);
  return value;
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench:coverage failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);

