import mqtt, { type MqttClient } from 'mqtt';
import {
  TOPICS,
  type IngestRejectedRecord,
  type MeterConnectivityRecord,
  type MeterEventRecord,
  type MeterReadingRecord,
} from '@meterlink/contracts';
import { createKafka } from '@meterlink/kafka';
import { createRedis } from '@meterlink/redis';
import {
  Platform,
  TEST_CATALOGUE,
  TopicRecorder,
  eventually,
  manifestOf,
  telemetryMessage,
  testMeters,
  infraEnv,
  dynsecAdmin,
  readMetric,
  type TestMeter,
} from '@meterlink/testing';

/**
 * Ingestion over the real broker, Kafka and Redis: only a meter's own, valid, new messages reach
 * Kafka; everything else is refused by the broker or lands on ingest.rejected.v1 with its reason.
 */
describe('ingestion uplink', () => {
  const infra = infraEnv();
  const platform = new Platform({
    infra,
    basePort: 4201,
    services: ['registry', 'ingestion'],
    logTag: 'int-ingestion',
  });
  const kafka = createKafka({ brokers: infra.KAFKA_BROKERS.split(','), clientId: 'int-ingestion' });
  const recorder = new TopicRecorder(kafka, [
    TOPICS.meterReadings.name,
    TOPICS.meterConnectivity.name,
    TOPICS.meterEvents.name,
    TOPICS.ingestRejected.name,
  ]);
  const [alice, bob] = testMeters(2);
  const [signer] = testMeters(1, { signedTelemetry: true });
  const clients: MqttClient[] = [];

  const connect = async (meter: TestMeter): Promise<MqttClient> => {
    const client = await mqtt.connectAsync(infra.MQTT_URL, {
      clientId: meter.line.meterId,
      username: meter.line.meterId,
      password: meter.line.mqttPassword,
      protocolVersion: 5,
      clean: true,
      reconnectPeriod: 0,
    });
    clients.push(client);
    return client;
  };
  const up = (meter: TestMeter, channel = 'telemetry'): string =>
    `mtr/v1/${meter.line.meterId}/up/${channel}`;
  const readingsOf = (meterId: string): MeterReadingRecord[] =>
    recorder.on<MeterReadingRecord>(TOPICS.meterReadings.name, (r) => r.meterId === meterId);
  const rejectedOf = (meterId: string): IngestRejectedRecord[] =>
    recorder.on<IngestRejectedRecord>(TOPICS.ingestRejected.name, (r) => r.meterId === meterId);
  /** Waits until a reading with this seq is in Kafka: everything the meter sent before it was processed. */
  const sentinel = async (client: MqttClient, meter: TestMeter, seq: number): Promise<void> => {
    await client.publishAsync(up(meter), JSON.stringify(telemetryMessage(meter, seq)), { qos: 1 });
    await eventually(() => readingsOf(meter.line.meterId).some((r) => r.seq === seq), {
      timeoutMs: 20_000,
      what: `sentinel seq ${seq} of ${meter.line.meterId}`,
    });
  };

  beforeAll(async () => {
    await recorder.start();
    await platform.start();
    await platform.importCatalogue(TEST_CATALOGUE);
    const report = await platform.importManifest({ ndjson: manifestOf([alice!, bob!, signer!]) });
    expect(report).toMatchObject({ imported: 3, rejected: 0 });
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync()));
    await recorder.stop();
    await platform.stop();
  });

  it('never lets a message published under another meter’s topic reach Kafka', async () => {
    const client = await connect(alice!);
    const forged = telemetryMessage(bob!, 1, 999_999);
    // MQTT 5: the broker refuses with reason code 135 (not authorized).
    await expect(client.publishAsync(up(bob!), JSON.stringify(forged), { qos: 1 })).rejects.toThrow(
      /authori/i,
    );
    await sentinel(client, alice!, 1);
    expect(readingsOf(bob!.line.meterId)).toEqual([]);
    expect(
      recorder.on<MeterReadingRecord>(TOPICS.meterReadings.name, (r) => r.value === 999_999),
    ).toEqual([]);
    expect(
      recorder.on(TOPICS.meterConnectivity.name, (c) => c.meterId === bob!.line.meterId),
    ).toEqual([]);
  });

  it('does not let a meter read another meter’s downlink', async () => {
    const client = await connect(bob!);
    const received: string[] = [];
    client.on('message', (topic, payload) => received.push(`${topic} ${payload.toString()}`));
    // With meters in dynsec (BROKER_CREDENTIALS=dynsec) the SUBSCRIBE itself is refused: MQTT 5
    // SUBACK 135, which mqtt.js reports as an error. With the password file and the broker's
    // acl_file (the default) any SUBSCRIBE is accepted and read access is checked at delivery.
    // Either way, nothing of alice's may reach bob.
    await client
      .subscribeAsync(`mtr/v1/${alice!.line.meterId}/down/#`, { qos: 1 })
      .catch((error: unknown) => expect(String(error)).toMatch(/authori/i));
    const own = await client.subscribeAsync(`mtr/v1/${bob!.line.meterId}/down/#`, { qos: 1 });
    expect(own[0]?.qos).toBe(1);
    const service = await mqtt.connectAsync(infra.MQTT_URL, {
      clientId: `int-ingestion-downlink-${process.pid}`,
      username: infra.MQTT_INGESTION_USERNAME,
      password: infra.MQTT_INGESTION_PASSWORD,
      protocolVersion: 5,
      reconnectPeriod: 0,
    });
    clients.push(service);
    // One publisher, so bob's own downlink is delivered after alice's would have been.
    await service.publishAsync(`mtr/v1/${alice!.line.meterId}/down/esipa`, 'for-alice', { qos: 1 });
    await service.publishAsync(`mtr/v1/${bob!.line.meterId}/down/esipa`, 'for-bob', { qos: 1 });
    await eventually(() => received.length > 0, {
      timeoutMs: 10_000,
      intervalMs: 20,
      what: 'bob to get his own downlink',
    });
    expect(received).toEqual([`mtr/v1/${bob!.line.meterId}/down/esipa for-bob`]);
  });

  it('writes a duplicated or replayed seq to Kafka once', async () => {
    const client = clients[0]!;
    const duplicatesCounted = async (): Promise<number> => {
      const metrics = await (
        await fetch(`${platform.service('ingestion').baseUrl}/metrics`)
      ).text();
      return Number(
        /ingest_rejected_total\{reason="duplicate"[^}]*\} (\d+)/.exec(metrics)?.[1] ?? 0,
      );
    };
    const before = await duplicatesCounted();
    const message = JSON.stringify(telemetryMessage(alice!, 10));
    await client.publishAsync(up(alice!), message, { qos: 1 });
    await client.publishAsync(up(alice!), message, { qos: 1 });
    await sentinel(client, alice!, 11);
    await client.publishAsync(up(alice!), message, { qos: 1 }); // a replay, later
    // The shared subscription spreads messages over several connections, so wait for the
    // outcome itself: both extra copies counted as duplicates.
    await eventually(async () => (await duplicatesCounted()) >= before + 2, {
      timeoutMs: 20_000,
      what: 'two duplicates counted',
    });
    await sentinel(client, alice!, 12);
    expect(readingsOf(alice!.line.meterId).filter((r) => r.seq === 10)).toHaveLength(1);
  });

  it('rejects bad input with a stable reason code on ingest.rejected.v1', async () => {
    const client = clients[0]!;
    const meterId = alice!.line.meterId;
    const other = testMeters(1)[0]!;
    const cases: [string, string, string | Buffer][] = [
      ['malformed_payload', up(alice!), '{"v":1,'],
      [
        'schema_violation',
        up(alice!),
        JSON.stringify({ ...telemetryMessage(alice!, 20), kind: 'plutonium' }),
      ],
      ['unknown_topic', up(alice!, 'diagnostics'), JSON.stringify(telemetryMessage(alice!, 21))],
      ['payload_too_large', up(alice!), Buffer.alloc(16 * 1024 + 1, 0x20)],
      [
        'bad_signature',
        up(alice!),
        JSON.stringify({
          jws: other
            .sign(telemetryMessage(alice!, 22))
            .replace(
              /^[^.]+/,
              Buffer.from(JSON.stringify({ alg: 'ES256', kid: meterId })).toString('base64url'),
            ),
        }),
      ],
      [
        'topic_owner_mismatch',
        up(alice!),
        JSON.stringify({ jws: bob!.sign(telemetryMessage(alice!, 23)) }),
      ],
    ];
    for (const [, topic, payload] of cases) await client.publishAsync(topic, payload, { qos: 1 });
    const signerClient = await connect(signer!);
    await signerClient.publishAsync(up(signer!), JSON.stringify(telemetryMessage(signer!, 1)), {
      qos: 1,
    });
    // A seq far below what the meter already sent is a replay outside the dedupe window.
    await client.publishAsync(up(alice!), JSON.stringify(telemetryMessage(alice!, 5_000)), {
      qos: 1,
    });
    await sentinel(client, alice!, 5_001);
    await client.publishAsync(up(alice!), JSON.stringify(telemetryMessage(alice!, 30)), { qos: 1 });

    const expected = ['replay_too_old', ...cases.map(([reason]) => reason)];
    await eventually(
      () => expected.every((reason) => rejectedOf(meterId).some((r) => r.reason === reason)),
      { timeoutMs: 20_000, what: `rejections ${expected.join(', ')}` },
    );
    await eventually(
      () => rejectedOf(signer!.line.meterId).some((r) => r.reason === 'unsigned_not_allowed'),
      { timeoutMs: 20_000, what: 'unsigned_not_allowed' },
    );
    // Every reason is counted by the metric too, under the same code.
    for (const reason of [...expected, 'unsigned_not_allowed']) {
      const counted = await readMetric(
        platform.service('ingestion').baseUrl,
        'ingest_rejected_total',
        { reason },
      );
      expect({ reason, counted: counted >= 1 }).toEqual({ reason, counted: true });
    }
    const tooLarge = rejectedOf(meterId).find((r) => r.reason === 'payload_too_large')!;
    expect(tooLarge.payloadBytes).toBe(16 * 1024 + 1);
    expect(Buffer.from(tooLarge.payload, 'base64').length).toBe(4096);
    // ...and a signed message from the signing meter is accepted.
    await signerClient.publishAsync(
      up(signer!),
      JSON.stringify({ jws: signer!.sign(telemetryMessage(signer!, 2)) }),
      { qos: 1 },
    );
    await eventually(() => readingsOf(signer!.line.meterId).some((r) => r.seq === 2), {
      timeoutMs: 20_000,
      what: 'signed telemetry accepted',
    });
  });

  it('rejects what a meter sent before its decommissioning, and a broker identity the registry does not know', async () => {
    const [carol] = testMeters(1);
    expect(await platform.importManifest({ ndjson: manifestOf([carol!]) })).toMatchObject({
      imported: 1,
    });
    const ghostId = `GHOST-${carol!.line.meterId}`;
    const ghostPassword = `pw-${Date.now()}-${Math.random()}`;
    // An identity created on the broker behind the registry's back, e.g. by hand.
    const created = await dynsecAdmin(infra, [
      {
        command: 'createRole',
        rolename: `test:${ghostId}`,
        acls: [{ acltype: 'publishClientSend', topic: `mtr/v1/${ghostId}/up/#`, allow: true }],
      },
      {
        command: 'createClient',
        username: ghostId,
        clientid: ghostId,
        password: ghostPassword,
        roles: [{ rolename: `test:${ghostId}` }],
      },
    ]);
    expect(created.filter((r) => r.error)).toEqual([]);
    try {
      const ingestion = platform.service('ingestion');
      // Carol's message waits at the broker while ingestion is away; meanwhile she is retired.
      expect(await ingestion.stop()).toBe(0);
      const carolClient = await connect(carol!);
      await carolClient.publishAsync(up(carol!), JSON.stringify(telemetryMessage(carol!, 1)), {
        qos: 1,
      });
      await carolClient.endAsync();
      await platform.registryCall(
        'POST',
        `/v1/meters/${carol!.line.meterId}/decommission`,
        '{}',
        'application/json',
      );
      await ingestion.start();
      const ghost = await mqtt.connectAsync(infra.MQTT_URL, {
        clientId: ghostId,
        username: ghostId,
        password: ghostPassword,
        protocolVersion: 5,
        reconnectPeriod: 0,
      });
      clients.push(ghost);
      await ghost.publishAsync(
        `mtr/v1/${ghostId}/up/telemetry`,
        JSON.stringify({ ...telemetryMessage(carol!, 1), seq: 1 }),
        { qos: 1 },
      );
      await eventually(
        () =>
          rejectedOf(carol!.line.meterId).some((r) => r.reason === 'meter_decommissioned') &&
          rejectedOf(ghostId).some((r) => r.reason === 'unknown_meter'),
        { timeoutMs: 30_000, what: 'meter_decommissioned and unknown_meter rejections' },
      );
      expect(readingsOf(carol!.line.meterId)).toEqual([]);
      expect(readingsOf(ghostId)).toEqual([]);
      for (const reason of ['meter_decommissioned', 'unknown_meter'])
        expect(
          await readMetric(ingestion.baseUrl, 'ingest_rejected_total', { reason }),
        ).toBeGreaterThanOrEqual(1);
    } finally {
      await dynsecAdmin(infra, [
        { command: 'deleteClient', username: ghostId },
        { command: 'deleteRole', rolename: `test:${ghostId}` },
      ]);
    }
  });
  it('fans out readings, connectivity with its carrier, alarms, boot and eUICC notifications', async () => {
    const [dave] = testMeters(1);
    expect(await platform.importManifest({ ndjson: manifestOf([dave!]) })).toMatchObject({
      imported: 1,
    });
    const meterId = dave!.line.meterId;
    const enabled = dave!.line.profiles.find((p) => p.state === 'enabled')!;
    const client = await connect(dave!);
    const now = new Date().toISOString();
    const telemetry = telemetryMessage(dave!, 1);
    const readings = [0, 1, 2].map((i) => ({
      at: new Date(Date.parse(now) - (2 - i) * 900_000).toISOString(),
      register: 'energy_import_wh',
      value: 500 + i,
    }));
    await client.publishAsync(up(dave!), JSON.stringify({ ...telemetry, readings }), { qos: 1 });
    const events = [
      { v: 1, seq: 2, sentAt: now, type: 'alarm', code: 'tamper', at: now },
      {
        v: 1,
        seq: 3,
        sentAt: now,
        type: 'boot',
        fw: '4.2.0',
        eid: dave!.line.eid,
        profiles: dave!.line.profiles.map(({ iccid, state, fallback }) => ({
          iccid,
          state,
          fallback,
        })),
      },
    ];
    for (const event of events)
      await client.publishAsync(up(dave!, 'events'), JSON.stringify(event), { qos: 1 });
    const fallbackTo = dave!.line.profiles.find((p) => p.state !== 'enabled')!;
    await client.publishAsync(
      up(dave!, 'esipa'),
      JSON.stringify({
        v: 1,
        seq: 4,
        type: 'notifications',
        eid: dave!.line.eid,
        notifications: [{ seqNumber: 1, event: 'fallback', iccid: fallbackTo.iccid, at: now }],
      }),
      { qos: 1 },
    );
    // device-interface §1: the compact JWS on its own is a payload too, not only {"jws": …}.
    await client.publishAsync(up(dave!), dave!.sign(telemetryMessage(dave!, 5, 777)), { qos: 1 });

    const eventsOf = (): MeterEventRecord[] =>
      recorder.on<MeterEventRecord>(TOPICS.meterEvents.name, (e) => e.meterId === meterId);
    await eventually(
      () =>
        eventsOf().length >= 3 && readingsOf(meterId).some((r) => r.seq === 5 && r.value === 777),
      { timeoutMs: 20_000, what: 'three device events and the signed reading' },
    );
    expect(
      readingsOf(meterId)
        .filter((r) => r.seq === 1)
        .map((r) => [r.at, r.register, r.value]),
    ).toEqual(readings.map((r) => [r.at, r.register, r.value]));
    const connectivity = recorder.on<MeterConnectivityRecord>(
      TOPICS.meterConnectivity.name,
      (c) => c.meterId === meterId && c.seq === 1,
    );
    expect(connectivity).toEqual([
      expect.objectContaining({ iccid: enabled.iccid, carrierId: enabled.carrierId }),
    ]);
    const byType = Object.fromEntries(eventsOf().map((e) => [e.type, e]));
    expect(byType.alarm).toMatchObject({ seq: 2, code: 'tamper' });
    expect(byType.boot).toMatchObject({ seq: 3, fw: '4.2.0', eid: dave!.line.eid });
    expect(byType.fallback).toMatchObject({ seq: 4, iccid: fallbackTo.iccid, eid: dave!.line.eid });
    expect(eventsOf()).toHaveLength(3);
  });

  it('dead-letters a message that keeps failing as processing_failed and keeps the rest flowing', async () => {
    const [erin] = testMeters(1);
    expect(await platform.importManifest({ ndjson: manifestOf([erin!]) })).toMatchObject({
      imported: 1,
    });
    const meterId = erin!.line.meterId;
    // A defect that no retry can cure: erin's dedupe key holds the wrong Redis type, so every
    // dedupe script touching it fails with WRONGTYPE (not an outage, which is retried forever).
    const redis = createRedis(infra.REDIS_URL, 'int-ingestion-poison');
    try {
      await redis.del(`dd:{${meterId}}:hw`);
      await redis.rpush(`dd:{${meterId}}:hw`, 'not-a-number');
      const before = await readMetric(
        platform.service('ingestion').baseUrl,
        'ingest_rejected_total',
        { reason: 'processing_failed' },
      );
      const erinClient = await connect(erin!);
      await erinClient.publishAsync(up(erin!), JSON.stringify(telemetryMessage(erin!, 1)), {
        qos: 1,
      });
      // Alice's messages, in the same batches or after, are not held behind erin's.
      await sentinel(clients[0]!, alice!, 6_000);
      await eventually(
        () =>
          rejectedOf(meterId).some((r) => r.reason === 'processing_failed' && r.seq === undefined),
        { timeoutMs: 30_000, what: 'erin’s message dead-lettered as processing_failed' },
      );
      const [record] = rejectedOf(meterId);
      expect(record).toMatchObject({
        meterId,
        reason: 'processing_failed',
        mqttTopic: up(erin!),
      });
      expect(record!.detail).toMatch(/WRONGTYPE/);
      expect(
        await readMetric(platform.service('ingestion').baseUrl, 'ingest_rejected_total', {
          reason: 'processing_failed',
        }),
      ).toBe(before + 1);
      expect(readingsOf(meterId)).toEqual([]);
      await sentinel(clients[0]!, alice!, 6_001);
    } finally {
      await redis.del(`dd:{${meterId}}:hw`);
      await redis.quit();
    }
  });
});
