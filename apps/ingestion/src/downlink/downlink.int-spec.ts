import { randomUUID } from 'node:crypto';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { TOPICS, type EsipaOutboundRecord } from '@meterlink/contracts';
import { createKafka } from '@meterlink/kafka';
import {
  Platform,
  readMetric,
  TEST_CATALOGUE,
  eventually,
  infraEnv,
  manifestOf,
  testMeters,
  type TestMeter,
} from '@meterlink/testing';

/**
 * The ESipa round trip through the real broker and Kafka: a meter's poll goes up through
 * ingestion to the eIM, and the answer comes back down on the meter's own downlink topic.
 */
describe('ingestion downlink', () => {
  const infra = infraEnv();
  const platform = new Platform({
    infra,
    basePort: 4801,
    services: ['registry', 'ingestion', 'profile-orchestrator'],
    logTag: 'int-downlink',
  });
  const [meter] = testMeters(1);
  /** The meter's persistent MQTT 5 session: what the broker queued for it survives a reconnect. */
  const sessionOf = (m: TestMeter): IClientOptions => ({
    clientId: m.line.meterId,
    username: m.line.meterId,
    password: m.line.mqttPassword,
    protocolVersion: 5,
    clean: false,
    properties: { sessionExpiryInterval: 3600 },
    reconnectPeriod: 0,
  });
  let client: MqttClient | undefined;

  beforeAll(async () => {
    await platform.start();
    await platform.importCatalogue(TEST_CATALOGUE);
    expect(await platform.importManifest({ ndjson: manifestOf([meter!]) })).toMatchObject({
      imported: 1,
    });
  });

  afterAll(async () => {
    await client?.endAsync();
    await platform.stop();
  });

  it('answers a getEimPackage poll with noEimPackageAvailable on the meter’s down/esipa', async () => {
    const id = meter!.line.meterId;
    client = await mqtt.connectAsync(infra.MQTT_URL, sessionOf(meter!));
    const received: { topic: string; body: Record<string, unknown> }[] = [];
    client.on('message', (topic, payload) => {
      received.push({ topic, body: JSON.parse(payload.toString()) as Record<string, unknown> });
    });
    await client.subscribeAsync(`mtr/v1/${id}/down/#`, { qos: 1 });
    await client.publishAsync(
      `mtr/v1/${id}/up/esipa`,
      JSON.stringify({
        v: 1,
        seq: 1,
        sentAt: new Date().toISOString(),
        type: 'getEimPackage',
        eid: meter!.line.eid,
      }),
      { qos: 1 },
    );
    await eventually(() => received.length > 0, {
      timeoutMs: 30_000,
      what: 'an answer on down/esipa',
    });
    expect(received.map((m) => [m.topic, m.body.type])).toEqual([
      [`mtr/v1/${id}/down/esipa`, 'noEimPackageAvailable'],
    ]);
  });
  it('lets the broker drop a package for a sleeping meter once it expired, and keeps the rest', async () => {
    const id = meter!.line.meterId;
    await client?.endAsync(); // asleep: the persistent session keeps what comes meanwhile
    client = undefined;
    const ingestion = platform.service('ingestion').baseUrl;
    const deliveredBefore = await readMetric(ingestion, 'downlink_delivered_total');
    const kafka = createKafka({
      brokers: infra.KAFKA_BROKERS.split(','),
      clientId: 'int-downlink',
    });
    const producer = kafka.producer();
    await producer.connect();
    const outbound = async (message: EsipaOutboundRecord['message'], expiresAt?: number) => {
      const record: EsipaOutboundRecord = {
        eventId: randomUUID(),
        type: 'esipa.outbound',
        at: new Date().toISOString(),
        meterId: id,
        message,
        ...(expiresAt ? { expiresAt: new Date(expiresAt).toISOString() } : {}),
      };
      await producer.send({
        topic: TOPICS.esipaOutbound.name,
        messages: [{ key: id, value: JSON.stringify(record) }],
      });
    };
    try {
      const expiresAt = Date.now() + 3_000;
      await outbound({ type: 'eimAcknowledgements', seqNumbers: [777] }, expiresAt);
      await eventually(
        async () =>
          (await readMetric(ingestion, 'downlink_delivered_total')) === deliveredBefore + 1,
        { what: 'the expiring message handed to the broker while it was still valid' },
      );
      // What is tested is the passing of time itself: wait until the expiry is behind us.
      await eventually(() => Date.now() > expiresAt + 1_000, {
        timeoutMs: 10_000,
        what: 'the expiry to pass',
      });
      await outbound({ type: 'eimAcknowledgements', seqNumbers: [778] });
      await eventually(
        async () =>
          (await readMetric(ingestion, 'downlink_delivered_total')) === deliveredBefore + 2,
        { what: 'the lasting message handed to the broker' },
      );
    } finally {
      await producer.disconnect();
    }
    const received: number[][] = [];
    // The session's queue arrives right behind the CONNACK: listen before connecting.
    client = mqtt.connect(infra.MQTT_URL, sessionOf(meter!));
    client.on('message', (_topic, payload) => {
      const body = JSON.parse(payload.toString()) as { seqNumbers?: number[] };
      if (body.seqNumbers) received.push(body.seqNumbers);
    });
    await eventually(() => received.some((s) => s.includes(778)), {
      timeoutMs: 20_000,
      what: 'the lasting message delivered from the session',
    });
    expect(received).toEqual([[778]]);
  });
});
