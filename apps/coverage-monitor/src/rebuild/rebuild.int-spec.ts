import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { TOPICS, type CoverageEventRecord } from '@meterlink/contracts';
import { createKafka } from '@meterlink/kafka';
import { createRedis } from '@meterlink/redis';
import { Platform, REPO_ROOT, TopicRecorder, eventually, infraEnv } from '@meterlink/testing';
import {
  FixtureProducer,
  ReportLoop,
  fixtureMeters,
  runTag,
  type FixtureMeter,
} from '../test-support/coverage-fixtures';
import { CARRIERS_KEY, DEFAULT_LAYOUT, StateLayout } from '../state/layout';
import { decodeMeterState, type StoredMeterState } from '../state/meter-state.codec';

const run = promisify(execFile);

/** Redis loses coverage state; the rebuild tool makes it again from Kafka alone. */
describe('coverage-monitor state rebuilt from Kafka', () => {
  const infra = infraEnv();
  const platform = new Platform({
    infra,
    basePort: 4951,
    services: ['coverage-monitor'],
    logTag: 'int-coverage-rebuild',
    extraEnv: {
      'coverage-monitor': {
        COVERAGE_OUTAGE_EVAL_INTERVAL_MS: '250',
        COVERAGE_LEADER_TTL_MS: '1500',
      },
    },
  });
  const kafka = createKafka({ brokers: infra.KAFKA_BROKERS.split(','), clientId: 'int-rebuild' });
  const recorder = new TopicRecorder(kafka, [TOPICS.coverageEvents.name]);
  const producer = new FixtureProducer(kafka);
  const redis = createRedis(infra.REDIS_URL, 'int-rebuild');
  const layout = new StateLayout(DEFAULT_LAYOUT);
  let loop: ReportLoop | undefined;

  beforeAll(async () => {
    await recorder.start();
    await producer.connect();
    await platform.start();
  });
  afterAll(async () => {
    await loop?.stop();
    await recorder.stop();
    await producer.disconnect();
    await platform.stop();
    await redis.quit();
  });

  const states = async (meters: FixtureMeter[]): Promise<Map<string, StoredMeterState>> => {
    const result = new Map<string, StoredMeterState>();
    for (const m of meters) {
      const a = layout.address(m.meterId);
      const packed = await redis.hgetBuffer(a.keys.bucket(a.bucket), m.meterId);
      if (packed) result.set(m.meterId, decodeMeterState(packed));
    }
    return result;
  };

  it('restores meter states, counts and the open outage without emitting anything', async () => {
    const tag = runTag();
    const where = { carrierId: `rc-${tag}`, region: `rr-${tag}` };
    const steady = fixtureMeters(10, `B-${tag}-h`, { ...where, reportIntervalS: 3600 });
    const fading = fixtureMeters(20, `B-${tag}-s`, { ...where, reportIntervalS: 2 });
    const all = [...steady, ...fading];
    await producer.fleet(all);
    loop = new ReportLoop(producer, all, 500);
    for (const m of steady.slice(0, 5)) loop.signal(m.meterId, -125);
    loop.start();
    const ours = (e: CoverageEventRecord) => e.meterId?.startsWith(`B-${tag}-`) ?? false;
    await eventually(
      () =>
        recorder.on<CoverageEventRecord>(
          TOPICS.coverageEvents.name,
          (e) => ours(e) && e.type === 'meter.degraded',
        ).length === 5,
      { timeoutMs: 30_000, what: 'five degraded meters' },
    );
    for (const m of fading) loop.silence(m.meterId);
    const outage = await eventually(
      () =>
        recorder.on<CoverageEventRecord>(
          TOPICS.coverageEvents.name,
          (e) => e.type === 'carrier.outage' && e.carrierId === where.carrierId,
        )[0],
      { timeoutMs: 30_000, what: 'carrier.outage' },
    );
    await eventually(
      () =>
        new Set(
          recorder
            .on<CoverageEventRecord>(
              TOPICS.coverageEvents.name,
              (e) => ours(e) && e.type === 'meter.lost',
            )
            .map((e) => e.meterId),
        ).size === 20,
      { timeoutMs: 30_000, what: 'twenty lost meters' },
    );
    await loop.stop();
    expect(await platform.service('coverage-monitor').stop()).toBe(0);
    const before = await states(all);
    const eventsBefore = recorder.on<CoverageEventRecord>(TOPICS.coverageEvents.name, ours).length;

    const { stdout } = await run(
      process.execPath,
      [
        join(REPO_ROOT, 'dist', 'apps', 'coverage-monitor', 'src', 'rebuild', 'rebuild.main.js'),
        '--reports-since',
        '15m',
        '--outages-since',
        '1h',
      ],
      { cwd: REPO_ROOT, env: { ...process.env, ...infra, LOG_LEVEL: 'warn' }, timeout: 300_000 },
    );
    const summary = JSON.parse(stdout.trim().split('\n').at(-1)!) as { openOutages: number };
    expect(summary.openOutages).toBeGreaterThanOrEqual(1);

    // Every meter as it was: status, newest report, deadline (the lost ones silently lost again).
    const after = await states(all);
    expect(after.size).toBe(30);
    for (const m of all) {
      const was = before.get(m.meterId)!;
      const is = after.get(m.meterId)!;
      expect({ id: m.meterId, status: is.status, at: is.lastReportAt, seq: is.lastSeq }).toEqual({
        id: m.meterId,
        status: was.status,
        at: was.lastReportAt,
        seq: was.lastSeq,
      });
      if (was.status !== 'lost') expect(is.deadline).toBe(was.deadline);
    }
    expect([...after.values()].map((s) => s.status).sort()).toEqual([
      ...Array<string>(5).fill('degraded'),
      ...Array<string>(20).fill('lost'),
      ...Array<string>(5).fill('ok'),
    ]);
    // The outage is open again, with the normal it recorded, and marked on every shard.
    const carriers = await redis.hgetall(CARRIERS_KEY);
    const restored = Object.values(carriers)
      .map((raw) => JSON.parse(raw) as { phase: string; outage: { outageId: string } | null })
      .find((s) => s.outage?.outageId === outage.outageId);
    expect(restored?.phase).toBe('open');
    for (const shard of layout.shards)
      expect(Object.values(await redis.hgetall(shard.outages))).toContain(outage.outageId);

    // Nothing was published by the rebuild (a fence on every partition is behind anything).
    await producer.fences(TOPICS.coverageEvents.name, TOPICS.coverageEvents.partitions, (p) => ({
      fence: `${tag}-${p}`,
    }));
    await eventually(
      () =>
        recorder.on<{ fence?: string }>(
          TOPICS.coverageEvents.name,
          (v) => v.fence?.startsWith(tag) ?? false,
        ).length === TOPICS.coverageEvents.partitions,
      { timeoutMs: 30_000, what: 'the fences' },
    );
    expect(recorder.on<CoverageEventRecord>(TOPICS.coverageEvents.name, ours)).toHaveLength(
      eventsBefore,
    );

    // The service carries on from there: a lost meter that reports is restored, in the outage.
    await platform.service('coverage-monitor').start();
    const back = fading[0]!;
    await producer.reports([{ meter: back, report: { seq: 1_000, at: Date.now(), rsrp: -90 } }]);
    const restoredEvent = await eventually(
      () =>
        recorder.on<CoverageEventRecord>(
          TOPICS.coverageEvents.name,
          (e) => e.meterId === back.meterId && e.type === 'meter.restored',
        )[0],
      { timeoutMs: 30_000, what: 'meter.restored after the rebuild' },
    );
    expect(restoredEvent.outageId).toBe(outage.outageId);
  });
});
