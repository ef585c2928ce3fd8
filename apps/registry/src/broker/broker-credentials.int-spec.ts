import { readFileSync } from 'node:fs';
import mqtt from 'mqtt';
import {
  Platform,
  TEST_CATALOGUE,
  infraEnv,
  manifestOf,
  stackVariables,
  testMeters,
  type TestMeter,
} from '@meterlink/testing';

const STACK_VARIABLES = ['MQTT_METER_URL', 'BROKER_CREDENTIALS', 'MQTT_PASSWORD_FILE'] as const;

/**
 * Meters' broker credentials in the project's default mode, against the stack's own broker:
 * the registry writes the password file (BROKER_CREDENTIALS=password-file from stack.sh env), the
 * broker's acl_file patterns confine each meter, the meters' listener binds the client id to the
 * username, the services keep their dynsec roles, and a decommission ends a live session at once.
 */
describe('broker credentials in the default mode, on the stack broker', () => {
  const infra = infraEnv();
  const stack = stackVariables(STACK_VARIABLES);
  const platform = new Platform({
    infra,
    basePort: 5401,
    services: ['registry'],
    logTag: 'int-registry-broker',
    // What stack.sh env says, also when the global setup exported InfraEnv only.
    extraEnv: {
      registry: {
        BROKER_CREDENTIALS: stack.BROKER_CREDENTIALS,
        MQTT_PASSWORD_FILE: stack.MQTT_PASSWORD_FILE,
        ...stackVariables(['MQTT_BROKER_PID_FILE', 'DATABASE_OWNER_URL']),
      },
    },
  });
  const [alice, bob, carol] = testMeters(3);
  const clients: mqtt.MqttClient[] = [];

  const connect = async (
    url: string,
    meter: TestMeter,
    clientId = meter.line.meterId,
    password = meter.line.mqttPassword,
  ): Promise<mqtt.MqttClient> => {
    const client = await mqtt.connectAsync(url, {
      clientId,
      username: meter.line.meterId,
      password,
      protocolVersion: 5,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: 5_000,
    });
    clients.push(client);
    return client;
  };
  const publish = (client: mqtt.MqttClient, meter: TestMeter): Promise<unknown> =>
    client.publishAsync(`mtr/v1/${meter.line.meterId}/up/events`, '{}', { qos: 1 });
  const closes = (client: mqtt.MqttClient): { count: number } => {
    const seen = { count: 0 };
    client.on('close', () => seen.count++);
    return seen;
  };
  const fileLines = (meter: TestMeter): number =>
    readFileSync(stack.MQTT_PASSWORD_FILE, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith(`${meter.line.meterId}:`)).length;

  beforeAll(async () => {
    // The default this test is about; a stack.sh older than the password file prints dynsec.
    expect(stack.BROKER_CREDENTIALS).toBe('password-file');
    await platform.start();
    await platform.importCatalogue(TEST_CATALOGUE);
    const report = await platform.importManifest({ ndjson: manifestOf([alice!, bob!, carol!]) });
    expect(report).toMatchObject({ imported: 3, rejected: 0 });
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    await platform.stop();
  });

  it('keeps each meter to its own topics with its own password, and no password in clear', async () => {
    expect([alice, bob, carol].map((m) => fileLines(m!))).toEqual([1, 1, 1]);
    expect(readFileSync(stack.MQTT_PASSWORD_FILE, 'utf8')).not.toContain(alice!.line.mqttPassword);
    const client = await connect(stack.MQTT_METER_URL, alice!);
    await expect(publish(client, alice!)).resolves.toBeDefined();
    await expect(publish(client, bob!)).rejects.toThrow(/not authori/i);
    await expect(
      client.publishAsync(`mtr/v1/${alice!.line.meterId}/down/esipa`, '{}', { qos: 1 }),
    ).rejects.toThrow(/not authori/i);
    await expect(
      connect(stack.MQTT_METER_URL, bob!, bob!.line.meterId, alice!.line.mqttPassword),
    ).rejects.toThrow(/not authori|bad user name or password/i);
  });

  it('binds the client id to the username on the meters listener: no session takeover', async () => {
    const victim = await connect(stack.MQTT_METER_URL, alice!, alice!.line.meterId);
    const victimCloses = closes(victim);
    // Bob, with his own valid password, asks for Alice's client id.
    const intruder = await connect(stack.MQTT_METER_URL, bob!, alice!.line.meterId);
    // The broker handled bob's CONNECT before answering it: had it given him alice's session,
    // alice's connection would be closed by now and this PUBACK could not come.
    await expect(publish(victim, alice!)).resolves.toBeDefined();
    expect(victimCloses.count).toBe(0);
    // And bob got a session of his own: his own topic, not alice's.
    await expect(publish(intruder, bob!)).resolves.toBeDefined();
    await expect(publish(intruder, alice!)).rejects.toThrow(/not authori/i);
  });

  it('decommission closes the live session at once and refuses the meter from then on', async () => {
    const client = await connect(stack.MQTT_METER_URL, carol!);
    await publish(client, carol!);
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    const res = await fetch(
      `${platform.service('registry').baseUrl}/v1/meters/${carol!.line.meterId}/decommission`,
      { method: 'POST', headers: { authorization: `Bearer ${platform.adminToken}` } },
    );
    expect(res.status).toBe(200);
    await closed;
    expect(fileLines(carol!)).toBe(0);
    await expect(connect(stack.MQTT_METER_URL, carol!)).rejects.toThrow(
      /not authori|bad user name or password/i,
    );
  });

  it('leaves the services their dynsec roles: the acl_file patterns do not widen them', async () => {
    const ingestion = await mqtt.connectAsync(infra.MQTT_URL, {
      clientId: `int-registry-broker-ingestion-${process.pid}`,
      username: infra.MQTT_INGESTION_USERNAME,
      password: infra.MQTT_INGESTION_PASSWORD,
      protocolVersion: 5,
      reconnectPeriod: 0,
    });
    clients.push(ingestion);
    // `pattern write mtr/v1/%u/up/#` would allow this to a username dynsec does not know.
    await expect(
      ingestion.publishAsync(`mtr/v1/${infra.MQTT_INGESTION_USERNAME}/up/events`, '{}', {
        qos: 1,
      }),
    ).rejects.toThrow(/not authori/i);
    // What its role does grant still works.
    await expect(
      ingestion.publishAsync(`mtr/v1/${alice!.line.meterId}/down/esipa`, '{}', { qos: 1 }),
    ).resolves.toBeDefined();
  });
});
