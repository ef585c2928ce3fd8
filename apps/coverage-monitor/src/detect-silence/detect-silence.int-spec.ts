import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import { TOPICS, type CoverageEventRecord } from '@meterlink/contracts';
import { createKafka } from '@meterlink/kafka';
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
    basePort: 4921,
    services: ['registry', 'ingestion', 'coverage-monitor'],
    logTag: 'int-coverage',
  });
  const kafka = createKafka({ brokers: infra.KAFKA_BROKERS.split(','), clientId: 'int-coverage' });
  const recorder = new TopicRecorder(kafka, [TOPICS.coverageEvents.name]);
  // A region of its own: other tests' meters sharing the stack can't make an outage here.
  const region = `silence-${randomBytes(3).toString('hex')}`;
  const [silent] = testMeters(1, { reportIntervalS: 1, region });
  const eventsOf = (meterId: string): CoverageEventRecord[] =>
    recorder.on<CoverageEventRecord>(TOPICS.coverageEvents.name, (e) => e.meterId === meterId);

  beforeAll(async () => {
    await recorder.start();
    await platform.start();
    await platform.importCatalogue(TEST_CATALOGUE);
    await platform.importManifest({ ndjson: manifestOf([silent!]) });
  });
  afterAll(async () => {
    await recorder.stop();
    await platform.stop();
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
      region,
      reason: 'silent_past_deadline',
    });
    expect(lost.outageId).toBeUndefined();
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
      recorder.on<CoverageEventRecord>(
        TOPICS.coverageEvents.name,
        (e) => e.type.startsWith('carrier.') && e.region === region,
      ),
    ).toEqual([]);
    await client.endAsync();
  });
});
