import { TOPICS } from '@meterlink/contracts';
import { createKafka } from '@meterlink/kafka';
import { createRedis } from '@meterlink/redis';
import {
  ServiceProcess,
  TopicRecorder,
  eventually,
  infraEnv,
  readMetric,
} from '@meterlink/testing';
import { FixtureProducer, runTag } from '../test-support/coverage-fixtures';
import { StreamScenario } from '../test-support/stream-scenario';

/**
 * Two replicas side by side in one consumer group: the partitions are shared between them, one
 * holds the lease that sweeps silence deadlines, and the leader is SIGKILLed mid-stream. The
 * survivor must take over its partitions and the lease, and when the killed replica comes back
 * the partitions are shared again, with every transition published exactly once throughout.
 */
describe('coverage-monitor with two replicas', () => {
  const infra = infraEnv();
  const replica = (id: string, port: number): ServiceProcess =>
    new ServiceProcess(
      'coverage-monitor',
      port,
      {
        ...infra,
        LOG_LEVEL: 'info',
        COVERAGE_REPLICA_ID: id,
        COVERAGE_LEADER_TTL_MS: '1500',
        // Outages are another test's subject: switched off here.
        COVERAGE_OUTAGE_MIN_AFFECTED: '1000000',
      },
      `int-coverage-replica-${id}`,
    );
  const replicas = [replica('replica-a', 4961), replica('replica-b', 4962)];
  const kafka = createKafka({ brokers: infra.KAFKA_BROKERS.split(','), clientId: 'int-replicas' });
  const recorder = new TopicRecorder(kafka, [TOPICS.coverageEvents.name]);
  const producer = new FixtureProducer(kafka);
  const redis = createRedis(infra.REDIS_URL, 'int-replicas');

  const leaders = async (): Promise<ServiceProcess[]> => {
    const flags = await Promise.all(
      replicas.map((r) => readMetric(r.baseUrl, 'coverage_leader').catch(() => 0)),
    );
    return replicas.filter((_, i) => flags[i] === 1);
  };
  const reportsHandled = (r: ServiceProcess): Promise<number> =>
    readMetric(r.baseUrl, 'coverage_reports_total');

  beforeAll(async () => {
    await recorder.start();
    await producer.connect();
    await Promise.all(replicas.map((r) => r.start(90_000)));
  });
  afterAll(async () => {
    await recorder.stop();
    await producer.disconnect();
    await Promise.all(replicas.map((r) => r.stop()));
    await redis.quit();
  });

  it('shares the work, survives the leader being SIGKILLed, and publishes each transition once', async () => {
    const scenario = new StreamScenario(runTag(), {
      rounds: 120,
      roundMs: 100,
      flapping: 240,
      silent: 40,
    });
    await producer.fleet(scenario.meters);
    const feeding = scenario.feed(producer);

    // Both replicas consume (the group split the partitions), and exactly one leads.
    await eventually(
      async () => (await Promise.all(replicas.map(reportsHandled))).every((n) => n > 0),
      { timeoutMs: 60_000, what: 'both replicas handling reports' },
    );
    await eventually(async () => (await leaders()).length === 1, {
      timeoutMs: 30_000,
      what: 'exactly one leader',
    });
    await eventually(() => scenario.recorded(recorder).length >= 300, {
      timeoutMs: 60_000,
      what: 'transitions flowing before the kill',
    });

    const [leader] = await leaders();
    const survivor = replicas.find((r) => r !== leader)!;
    expect(await leader!.stop('SIGKILL')).toBeNull();
    const seenAtKill = scenario.recorded(recorder).length;
    const survivorBefore = await reportsHandled(survivor);
    await eventually(async () => (await readMetric(survivor.baseUrl, 'coverage_leader')) === 1, {
      timeoutMs: 30_000,
      what: 'the survivor taking the lease',
    });
    await eventually(async () => (await reportsHandled(survivor)) > survivorBefore, {
      timeoutMs: 60_000,
      what: 'the survivor handling reports after the kill',
    });

    await leader!.start(90_000);
    await feeding;
    const ids = await scenario.settle(recorder, producer, redis);

    expect(seenAtKill).toBeLessThan(scenario.expected.size);
    expect(ids.length).toBe(scenario.expected.size);
    expect(new Set(ids)).toEqual(scenario.expected);
    expect((await leaders()).length).toBe(1);
  });
});
