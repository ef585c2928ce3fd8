import mqtt from 'mqtt';
import { TOPICS, stableEventId, type CoverageEventRecord } from '@meterlink/contracts';
import { createKafka } from '@meterlink/kafka';
import { createRedis } from '@meterlink/redis';
import {
  Platform,
  TEST_CATALOGUE,
  TopicRecorder,
  eventually,
  infraEnv,
  manifestOf,
  telemetryMessage,
  testMeters,
} from '@meterlink/testing';

/** coverage-monitor with ingestion and the registry, over real Kafka, Mosquitto and Redis. */
describe('coverage-monitor silence detection', () => {
  const infra = infraEnv();
  const platform = new Platform({
    infra,
    basePort: 4401,
    services: ['registry', 'ingestion', 'coverage-monitor'],
    logTag: 'int-coverage',
  });
  const kafka = createKafka({ brokers: infra.KAFKA_BROKERS.split(','), clientId: 'int-coverage' });
  const recorder = new TopicRecorder(kafka, [TOPICS.coverageEvents.name]);
  const redis = createRedis(infra.REDIS_URL, 'int-coverage');
  const [silent, crashed] = testMeters(2, { reportIntervalS: 1 });
  const eventsOf = (meterId: string): CoverageEventRecord[] =>
    recorder.on<CoverageEventRecord>(TOPICS.coverageEvents.name, (e) => e.meterId === meterId);

  beforeAll(async () => {
    await recorder.start();
    await platform.start();
    await platform.importCatalogue(TEST_CATALOGUE);
    await platform.importManifest({ ndjson: manifestOf([silent!, crashed!]) });
  });
  afterAll(async () => {
    await recorder.stop();
    await platform.stop();
    await redis.quit();
  });

  it('declares a meter that stops reporting lost once, and restored when it reports again', async () => {
    const meter = silent!;
    const client = await mqtt.connectAsync(infra.MQTT_URL, {
      clientId: meter.line.meterId,
      username: meter.line.meterId,
      password: meter.line.mqttPassword,
      protocolVersion: 5,
    });
    const topic = `mtr/v1/${meter.line.meterId}/up/telemetry`;
    for (let seq = 1; seq <= 3; seq++)
      await client.publishAsync(topic, JSON.stringify(telemetryMessage(meter, seq)), { qos: 1 });
    const lost = await eventually(
      () => eventsOf(meter.line.meterId).find((e) => e.type === 'meter.lost'),
      { timeoutMs: 20_000, what: 'meter.lost' },
    );
    expect(lost).toMatchObject({
      carrierId: 'carrier-a',
      region: 'north',
      reason: 'silent_past_deadline',
    });
    await client.publishAsync(topic, JSON.stringify(telemetryMessage(meter, 4)), { qos: 1 });
    await eventually(() => eventsOf(meter.line.meterId).some((e) => e.type === 'meter.restored'), {
      timeoutMs: 20_000,
      what: 'meter.restored',
    });
    expect(eventsOf(meter.line.meterId).map((e) => e.type)).toEqual([
      'meter.lost',
      'meter.restored',
    ]);
    // One broken meter is not a carrier outage.
    expect(
      recorder.on<CoverageEventRecord>(TOPICS.coverageEvents.name, (e) =>
        e.type.startsWith('carrier.'),
      ),
    ).toEqual([]);
    await client.endAsync();
  });

  it('re-emits a transition that a crash left stored but unpublished', async () => {
    const meterId = crashed!.line.meterId;
    const at = Date.now() - 60_000;
    // What a crash between the atomic claim and the publish leaves in Redis.
    const transition = {
      type: 'meter.lost',
      meterId,
      carrierId: 'carrier-a',
      region: 'north',
      iccid: crashed!.line.profiles[0]!.iccid,
      reason: 'silent_past_deadline',
      at,
    };
    await redis.hset(`cov:m:{${meterId}}`, {
      v: 1,
      s: 'lost',
      b: 0,
      g: 0,
      t: at - 1_000,
      i: transition.iccid,
      c: 'carrier-a',
      pt: JSON.stringify(transition),
    });
    await redis.sadd('cov:pending', meterId);
    const event = await eventually(() => eventsOf(meterId).find((e) => e.type === 'meter.lost'), {
      timeoutMs: 20_000,
      what: 'the pending meter.lost',
    });
    expect(event.eventId).toBe(stableEventId('coverage', 'meter.lost', meterId, at));
    await eventually(async () => (await redis.sismember('cov:pending', meterId)) === 0, {
      timeoutMs: 10_000,
      what: 'pending cleared',
    });
  });
});
