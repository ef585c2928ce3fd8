import mqtt, { type MqttClient } from 'mqtt';
import {
  Platform,
  TEST_CATALOGUE,
  eventually,
  infraEnv,
  manifestOf,
  testMeters,
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
    client = await mqtt.connectAsync(infra.MQTT_URL, {
      clientId: id,
      username: id,
      password: meter!.line.mqttPassword,
      protocolVersion: 5,
      clean: false,
      properties: { sessionExpiryInterval: 3600 },
      reconnectPeriod: 0,
    });
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
});
