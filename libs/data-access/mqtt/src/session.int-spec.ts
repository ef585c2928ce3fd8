import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import { dynsecAdmin, eventually, infraEnv } from '@meterlink/testing';
import { MqttSession, type InboundMessage } from './session';

/** MqttSession against the real broker: flow control, acknowledgement order, redelivery. */
describe('MqttSession', () => {
  const infra = infraEnv();
  const publisherId = `SESS-${randomBytes(4).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  const topic = `mtr/v1/${publisherId}/up/telemetry`;
  let publisher: mqtt.MqttClient;

  beforeAll(async () => {
    const responses = await dynsecAdmin(infra, [
      {
        command: 'createRole',
        rolename: `test:${publisherId}`,
        acls: [{ acltype: 'publishClientSend', topic: `mtr/v1/${publisherId}/up/#`, allow: true }],
      },
      {
        command: 'createClient',
        username: publisherId,
        clientid: publisherId,
        password,
        roles: [{ rolename: `test:${publisherId}` }],
      },
    ]);
    expect(responses.filter((r) => r.error)).toEqual([]);
    publisher = await mqtt.connectAsync(infra.MQTT_URL, {
      clientId: publisherId,
      username: publisherId,
      password,
      protocolVersion: 5,
      reconnectPeriod: 0,
    });
  });

  afterAll(async () => {
    await publisher.endAsync();
    await dynsecAdmin(infra, [
      { command: 'deleteClient', username: publisherId },
      { command: 'deleteRole', rolename: `test:${publisherId}` },
    ]);
  });

  const session = (
    clientId: string,
    receiveMaximum: number,
    onMessage: (m: InboundMessage) => void,
  ) =>
    new MqttSession({
      url: infra.MQTT_URL,
      clientId,
      username: infra.MQTT_INGESTION_USERNAME,
      password: infra.MQTT_INGESTION_PASSWORD,
      clean: false,
      sessionExpirySeconds: 300,
      receiveMaximum,
      subscriptions: [{ topic, qos: 1 }],
      onMessage,
    });

  const publish = async (from: number, count: number, bytes = 0): Promise<void> => {
    for (let i = from; i < from + count; i++)
      await publisher.publishAsync(topic, JSON.stringify({ n: i, pad: 'x'.repeat(bytes) }), {
        qos: 1,
      });
  };
  const numberOf = (m: InboundMessage): number =>
    (JSON.parse(m.payload.toString()) as { n: number }).n;

  it('keeps what it holds unacknowledged bounded, though the broker sends its whole queue after the first acknowledgement', async () => {
    const held: InboundMessage[] = [];
    let maxOutstanding = 0;
    const s = session(`test-session-${publisherId}-rm`, 10, (m) => {
      held.push(m);
      maxOutstanding = Math.max(maxOutstanding, s.unacknowledged());
    });
    await s.start();
    try {
      // 2 KiB messages: one 64 KiB socket read holds about 32 of them.
      await publish(0, 300, 2_048);
      await eventually(() => held.length === 10, { what: 'the first 10 messages' });
      // Acknowledge slowly, a few at a time, as a busy consumer would.
      let acked = 0;
      await eventually(
        () => {
          held.slice(acked, acked + 5).forEach((m) => m.ack());
          acked = Math.min(held.length, acked + 5);
          return held.length === 300 && acked === 300;
        },
        { timeoutMs: 60_000, intervalMs: 20, what: 'all 300 messages, acknowledged' },
      );
      expect(held.map(numberOf)).toEqual(Array.from({ length: 300 }, (_, i) => i));
      // Receive Maximum plus at most one socket read (64 KiB) beyond it.
      expect(maxOutstanding).toBeLessThanOrEqual(10 + 33);
    } finally {
      await s.stop({ endSession: true });
    }
  });

  it('gets unacknowledged messages again after a reconnect, and loses none', async () => {
    const clientId = `test-session-${publisherId}-redeliver`;
    const first: InboundMessage[] = [];
    const s1 = session(clientId, 100, (m) => first.push(m));
    await s1.start();
    await publish(100, 20);
    await eventually(() => first.length === 20, { what: '20 messages' });
    // Acknowledge the first 8 only, then go away without acknowledging the rest.
    first.slice(0, 8).forEach((m) => m.ack());
    await s1.stop();
    const second: InboundMessage[] = [];
    const s2 = session(clientId, 100, (m) => {
      second.push(m);
      m.ack();
    });
    await s2.start();
    try {
      await eventually(() => second.length >= 12, { what: 'the 12 unacknowledged messages again' });
      expect(second.map(numberOf)).toEqual(Array.from({ length: 12 }, (_, i) => 108 + i));
      expect(second.every((m) => m.dup)).toBe(true);
    } finally {
      await s2.stop({ endSession: true });
    }
  });
});
