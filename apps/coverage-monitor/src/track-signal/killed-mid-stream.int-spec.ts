import { TOPICS, stableEventId, type CoverageEventRecord } from '@meterlink/contracts';
import {
  applyReport,
  applySilence,
  resolvePolicy,
  type MeterCoverageState,
} from '@meterlink/coverage-domain';
import { createKafka } from '@meterlink/kafka';
import { createRedis } from '@meterlink/redis';
import { Platform, TopicRecorder, eventually, infraEnv } from '@meterlink/testing';
import {
  FixtureProducer,
  fixtureMeters,
  runTag,
  type FixtureMeter,
  type ReportInput,
} from '../test-support/coverage-fixtures';
import { DEFAULT_LAYOUT, StateLayout } from '../state/layout';

const ROUNDS = 80;
const ROUND_MS = 100;

/**
 * At-least-once input, a SIGKILL in the middle of it, and the transitions on coverage.events.v1
 * compared one by one with what the pure rules say the input means.
 */
describe('coverage-monitor killed mid-stream', () => {
  const infra = infraEnv();
  const platform = new Platform({
    infra,
    basePort: 4941,
    services: ['coverage-monitor'],
    logTag: 'int-coverage-kill',
    extraEnv: {
      'coverage-monitor': {
        COVERAGE_LEADER_TTL_MS: '1500',
        // Outages are another test's subject; here they would only add restatements.
        COVERAGE_OUTAGE_MIN_AFFECTED: '1000000',
      },
    },
  });
  const kafka = createKafka({ brokers: infra.KAFKA_BROKERS.split(','), clientId: 'int-kill' });
  const recorder = new TopicRecorder(kafka, [TOPICS.coverageEvents.name]);
  const producer = new FixtureProducer(kafka);
  const redis = createRedis(infra.REDIS_URL, 'int-kill');

  beforeAll(async () => {
    await recorder.start();
    await producer.connect();
    await platform.start();
  });
  afterAll(async () => {
    await recorder.stop();
    await producer.disconnect();
    await platform.stop();
    await redis.quit();
  });

  it('loses and repeats no transition when SIGKILLed while reports stream in', async () => {
    const tag = runTag();
    const where = { carrierId: `kc-${tag}`, region: `kr-${tag}` };
    const flapping = fixtureMeters(200, `K-${tag}-f`, { ...where, reportIntervalS: 3600 });
    const silent = fixtureMeters(40, `K-${tag}-s`, { ...where, reportIntervalS: 2 });
    await producer.fleet([...flapping, ...silent]);

    // The input, round by round: every flapping meter has 4 bad reports in 10 (degraded, then
    // restored), each silent meter stops after a while; 5 % of each round is delivered twice
    // and some reports are held up and delivered 15 rounds late.
    const base = Date.now() + 2_000;
    const rounds: { meter: FixtureMeter; report: ReportInput }[][] = [];
    const held = new Map<number, { meter: FixtureMeter; report: ReportInput }[]>();
    for (let r = 0; r < ROUNDS; r++) {
      const at = base + r * ROUND_MS;
      const round: { meter: FixtureMeter; report: ReportInput }[] = [...(held.get(r) ?? [])];
      flapping.forEach((meter, i) => {
        const report = { seq: r + 1, at, rsrp: (r + i) % 10 < 4 ? -125 : -90 };
        if (r % 7 === 3 && i % 20 === 0 && r + 15 < ROUNDS)
          held.set(r + 15, [...(held.get(r + 15) ?? []), { meter, report }]);
        else round.push({ meter, report });
      });
      silent.forEach((meter, j) => {
        if (r < 10 + j) round.push({ meter, report: { seq: r + 1, at, rsrp: -90 } });
      });
      const previous = rounds.at(-1) ?? [];
      round.push(...previous.filter((_, k) => k % 20 === r % 20));
      rounds.push(round);
    }

    // What the rules make of that input, meter by meter in delivery order.
    const expected = new Set<string>();
    const policy = resolvePolicy('electricity', where.region);
    const states = new Map<string, MeterCoverageState>();
    for (const round of rounds)
      for (const { meter, report } of round) {
        const verdict = applyReport(
          states.get(meter.meterId),
          {
            ...report,
            receivedAt: report.receivedAt ?? report.at,
            reportIntervalS: meter.reportIntervalS,
            iccid: meter.iccid,
            carrierId: meter.carrierId,
            region: meter.region,
            rsrq: null,
            sinr: null,
            attachFailures: 0,
          },
          policy,
        );
        if (!verdict.applied) continue;
        states.set(meter.meterId, verdict.state);
        if (verdict.transition)
          expected.add(
            stableEventId(
              'coverage',
              verdict.transition.type,
              meter.meterId,
              verdict.transition.at,
              report.seq,
            ),
          );
      }
    for (const meter of silent) {
      const lost = applySilence(states.get(meter.meterId)!, Number.MAX_SAFE_INTEGER)!;
      expected.add(stableEventId('coverage', 'meter.lost', meter.meterId, lost.transition.at));
    }

    const ours = (e: CoverageEventRecord): boolean =>
      e.meterId !== undefined && e.meterId.startsWith(`K-${tag}-`);
    const recorded = (): CoverageEventRecord[] =>
      recorder.on<CoverageEventRecord>(TOPICS.coverageEvents.name, ours);

    // Feed the rounds in real time, in the background.
    const feeding = (async () => {
      for (let r = 0; r < ROUNDS; r++) {
        const wait = base + r * ROUND_MS - Date.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        await producer.reports(rounds[r]!);
      }
    })();

    const service = platform.service('coverage-monitor');
    await eventually(() => recorded().length >= 300, {
      timeoutMs: 60_000,
      what: 'transitions flowing before the kill',
    });
    expect(await service.stop('SIGKILL')).toBeNull();
    const seenAtKill = recorded().length;
    await service.start(90_000);
    await feeding;

    await eventually(
      () => {
        const seen = new Set(recorded().map((e) => e.eventId));
        return [...expected].every((id) => seen.has(id));
      },
      {
        timeoutMs: 120_000,
        intervalMs: 500,
        what: 'every expected transition',
        detail: () => `${new Set(recorded().map((e) => e.eventId)).size} of ${expected.size}`,
      },
    );
    // Nothing is left pending, and a fence on every partition is behind anything published.
    const layout = new StateLayout(DEFAULT_LAYOUT);
    await eventually(
      async () => {
        for (const shard of layout.shards) {
          const pending = await redis.hkeys(shard.pending);
          if (pending.some((id) => id.startsWith(`K-${tag}-`))) return false;
        }
        return true;
      },
      { timeoutMs: 30_000, what: 'no pending transitions' },
    );
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

    expect(seenAtKill).toBeLessThan(expected.size);
    const ids = recorded().map((e) => e.eventId);
    expect(ids.length).toBe(expected.size);
    expect(new Set(ids)).toEqual(expected);
  });
});
