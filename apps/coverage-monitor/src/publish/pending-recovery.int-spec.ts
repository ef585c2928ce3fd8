import { TOPICS, stableEventId, type CoverageEventRecord } from '@meterlink/contracts';
import { createKafka } from '@meterlink/kafka';
import { createRedis } from '@meterlink/redis';
import { Platform, TopicRecorder, eventually, infraEnv } from '@meterlink/testing';
import { FixtureProducer, runTag } from '../test-support/coverage-fixtures';
import { DEFAULT_LAYOUT, StateLayout } from '../state/layout';
import { encodePending, meterEventRecord } from './coverage-events.publisher';

/**
 * What a replica that crashed between storing a transition and publishing it leaves behind, and
 * how the leader finishes it: published if it never reached Kafka, left alone if it did.
 */
describe('coverage-monitor recovery of transitions a crash left pending', () => {
  const infra = infraEnv();
  const platform = new Platform({
    infra,
    basePort: 4911,
    services: ['coverage-monitor'],
    logTag: 'int-coverage-recovery',
    extraEnv: { 'coverage-monitor': { COVERAGE_LEADER_TTL_MS: '1500' } },
  });
  const kafka = createKafka({ brokers: infra.KAFKA_BROKERS.split(','), clientId: 'int-recovery' });
  const recorder = new TopicRecorder(kafka, [TOPICS.coverageEvents.name]);
  const producer = new FixtureProducer(kafka);
  const redis = createRedis(infra.REDIS_URL, 'int-recovery');
  const layout = new StateLayout(DEFAULT_LAYOUT);

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

  it('publishes a pending transition once if it never reached Kafka, and not again if it did', async () => {
    const tag = runTag();
    const at = Date.now() - 60_000;
    const transition = (meterId: string) =>
      meterEventRecord(
        meterId,
        {
          type: 'meter.lost',
          reason: 'silent_past_deadline',
          at,
          carrierId: 'carrier-a',
          region: `recovery-${tag}`,
          iccid: '8944150000000000017',
        },
        { outageId: null },
      );
    const unpublished = transition(`R-${tag}-unpublished`);
    const published = transition(`R-${tag}-published`);
    // The second one made it to Kafka before the crash.
    await producer.send(TOPICS.coverageEvents.name, [
      { key: published.key, value: published.record },
    ]);
    for (const event of [unpublished, published]) {
      const pending = encodePending({
        owner: `crashed-${tag}`,
        storedAt: Date.now() - 5_000,
        events: [event],
      });
      await redis.hset(layout.address(event.key).keys.pending, event.key, pending);
    }

    const seen = (meterId: string): CoverageEventRecord[] =>
      recorder.on<CoverageEventRecord>(TOPICS.coverageEvents.name, (e) => e.meterId === meterId);
    await eventually(() => seen(unpublished.key).length > 0, {
      timeoutMs: 30_000,
      what: 'the unpublished transition',
    });
    await eventually(
      async () =>
        (await redis.hexists(layout.address(unpublished.key).keys.pending, unpublished.key)) ===
          0 &&
        (await redis.hexists(layout.address(published.key).keys.pending, published.key)) === 0,
      { timeoutMs: 10_000, what: 'both pending entries cleared' },
    );
    expect(seen(unpublished.key)).toEqual([
      expect.objectContaining({
        eventId: stableEventId('coverage', 'meter.lost', unpublished.key, at),
        type: 'meter.lost',
      }),
    ]);
    // A fence behind anything recovery may have published on that meter's partition: once the
    // recorder has it, it has everything before it.
    const fence = transition(published.key);
    fence.record.eventId = stableEventId('fence', tag);
    fence.record.reason = 'test_fence';
    await producer.send(TOPICS.coverageEvents.name, [{ key: fence.key, value: fence.record }]);
    await eventually(() => seen(published.key).some((e) => e.reason === 'test_fence'), {
      timeoutMs: 10_000,
      what: 'the fence',
    });
    // The recorder saw the test's own copy; recovery added none.
    expect(seen(published.key).filter((e) => e.reason !== 'test_fence')).toHaveLength(1);
  });
});
