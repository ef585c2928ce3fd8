import { createKafka } from '@meterlink/kafka';
import { createRedis } from '@meterlink/redis';
import { Platform, TopicRecorder, eventually, infraEnv } from '@meterlink/testing';
import { TOPICS } from '@meterlink/contracts';
import { FixtureProducer, runTag } from '../test-support/coverage-fixtures';
import { StreamScenario } from '../test-support/stream-scenario';

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
        // Outages are another test's subject: switched off here.
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
    const scenario = new StreamScenario(runTag(), {
      rounds: 80,
      roundMs: 100,
      flapping: 200,
      silent: 40,
    });
    await producer.fleet(scenario.meters);
    const feeding = scenario.feed(producer);

    const service = platform.service('coverage-monitor');
    await eventually(() => scenario.recorded(recorder).length >= 300, {
      timeoutMs: 60_000,
      what: 'transitions flowing before the kill',
    });
    expect(await service.stop('SIGKILL')).toBeNull();
    const seenAtKill = scenario.recorded(recorder).length;
    await service.start(90_000);
    await feeding;

    const ids = await scenario.settle(recorder, producer, redis);
    expect(seenAtKill).toBeLessThan(scenario.expected.size);
    expect(ids.length).toBe(scenario.expected.size);
    expect(new Set(ids)).toEqual(scenario.expected);
  });
});
