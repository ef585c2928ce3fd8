import { spawn, type ChildProcess } from 'node:child_process';
import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import {
  Platform,
  TEST_CATALOGUE,
  eventually,
  infraEnv,
  manifestOf,
  testMeters,
  type TestMeter,
} from '@meterlink/testing';

/**
 * A Mosquitto 2.0 set up as BROKER_CREDENTIALS=password-file expects: dynsec for the admin,
 * password_file written by the registry, acl_file patterns confining each meter to its own
 * topics. The stack's broker has no password_file, so the test brings its own.
 */
class PasswordFileBroker {
  readonly dir = mkdtempSync(join(tmpdir(), 'meterlink-pwfile-'));
  readonly adminUsername = 'test-admin';
  readonly adminPassword = randomBytes(18).toString('base64url');
  readonly passwordFile = join(this.dir, 'meters.passwd');
  readonly pidFile = join(this.dir, 'mosquitto.pid');
  port = 0;
  private child: ChildProcess | undefined;

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.port = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
      });
    });
    const plugin = [
      '/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so',
      '/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so',
      '/usr/lib/mosquitto_dynamic_security.so',
      '/usr/local/lib/mosquitto_dynamic_security.so',
    ].find((p) => existsSync(p));
    if (!plugin) throw new Error('mosquitto_dynamic_security.so not found');
    const salt = randomBytes(12);
    writeFileSync(
      join(this.dir, 'dynsec.json'),
      JSON.stringify({
        defaultACLAccess: {
          publishClientSend: false,
          publishClientReceive: false,
          subscribe: false,
          unsubscribe: false,
        },
        clients: [
          {
            username: this.adminUsername,
            password: pbkdf2Sync(this.adminPassword, salt, 101, 64, 'sha512').toString('base64'),
            salt: salt.toString('base64'),
            iterations: 101,
            roles: [{ rolename: 'admin' }],
          },
        ],
        groups: [],
        roles: [
          {
            rolename: 'admin',
            acls: ['publishClientSend', 'publishClientReceive', 'subscribePattern'].map(
              (acltype) => ({
                acltype,
                topic: '$CONTROL/dynamic-security/#',
                priority: 0,
                allow: true,
              }),
            ),
          },
        ],
      }),
    );
    writeFileSync(this.passwordFile, '', { mode: 0o600 });
    writeFileSync(
      join(this.dir, 'meters.acl'),
      'pattern write mtr/v1/%u/up/#\npattern read mtr/v1/%u/down/#\n',
    );
    writeFileSync(
      join(this.dir, 'mosquitto.conf'),
      [
        'per_listener_settings false',
        `listener ${this.port} 127.0.0.1`,
        'allow_anonymous false',
        `plugin ${plugin}`,
        `plugin_opt_config_file ${join(this.dir, 'dynsec.json')}`,
        `password_file ${this.passwordFile}`,
        `acl_file ${join(this.dir, 'meters.acl')}`,
        ...(process.getuid?.() === 0 ? ['user root'] : []),
        'persistence false',
        `log_dest file ${join(this.dir, 'mosquitto.log')}`,
        '',
      ].join('\n'),
    );
    this.child = spawn('mosquitto', ['-c', join(this.dir, 'mosquitto.conf')], { stdio: 'ignore' });
    writeFileSync(this.pidFile, `${this.child.pid}\n`);
    await eventually(
      async () => {
        if (this.child?.exitCode !== null) throw new Error('mosquitto exited');
        const client = await mqtt
          .connectAsync(this.url, {
            username: this.adminUsername,
            password: this.adminPassword,
            reconnectPeriod: 0,
          })
          .catch(() => undefined);
        await client?.endAsync();
        return client !== undefined;
      },
      { timeoutMs: 15_000, intervalMs: 100, what: 'the test broker to accept its admin' },
    );
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
}

/** The registry with BROKER_CREDENTIALS=password-file, over real PostgreSQL, Kafka and Mosquitto. */
describe('broker credentials in password-file mode', () => {
  const infra = infraEnv();
  const broker = new PasswordFileBroker();
  const env = (): Record<string, string> => ({
    BROKER_CREDENTIALS: 'password-file',
    MQTT_URL: broker.url,
    MQTT_ADMIN_USERNAME: broker.adminUsername,
    MQTT_ADMIN_PASSWORD: broker.adminPassword,
    MQTT_PASSWORD_FILE: broker.passwordFile,
    MQTT_BROKER_PID_FILE: broker.pidFile,
  });
  let platform: Platform;
  const [alice, bob, carol] = testMeters(3);
  const clients: mqtt.MqttClient[] = [];

  const connect = async (meter: TestMeter, password = meter.line.mqttPassword) => {
    const client = await mqtt.connectAsync(broker.url, {
      clientId: meter.line.meterId,
      username: meter.line.meterId,
      password,
      protocolVersion: 5,
      reconnectPeriod: 0,
    });
    clients.push(client);
    return client;
  };
  const publish = (client: mqtt.MqttClient, topic: string): Promise<unknown> =>
    client.publishAsync(topic, '{}', { qos: 1 });
  const linesOf = (meter: TestMeter): number =>
    readFileSync(broker.passwordFile, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith(`${meter.line.meterId}:`)).length;

  beforeAll(async () => {
    await broker.start();
    platform = new Platform({
      infra,
      basePort: 4301,
      services: ['registry'],
      logTag: 'int-registry-password-file',
      extraEnv: { registry: env() },
    });
    await platform.start();
    await platform.importCatalogue(TEST_CATALOGUE);
    const report = await platform.importManifest({ ndjson: manifestOf([alice!, bob!, carol!]) });
    expect(report).toMatchObject({ imported: 3, rejected: 0 });
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    await platform?.stop();
    await broker.stop();
  });

  it('lets an imported meter publish under its own topic only, with its own password only', async () => {
    const client = await connect(alice!);
    await expect(publish(client, `mtr/v1/${alice!.line.meterId}/up/events`)).resolves.toBeDefined();
    await expect(publish(client, `mtr/v1/${bob!.line.meterId}/up/events`)).rejects.toThrow(
      /not authori/i,
    );
    await expect(publish(client, `mtr/v1/${alice!.line.meterId}/down/esipa`)).rejects.toThrow(
      /not authori/i,
    );
    await expect(connect(bob!, alice!.line.mqttPassword)).rejects.toThrow(/not authori/i);
  });

  it('keeps one password file line per meter, and no password in clear', async () => {
    const again = await platform.importManifest({ ndjson: manifestOf([alice!, bob!, carol!]) });
    expect(again).toMatchObject({ imported: 0, unchanged: 3, rejected: 0 });
    expect([alice!, bob!, carol!].map(linesOf)).toEqual([1, 1, 1]);
    expect(readFileSync(broker.passwordFile, 'utf8')).not.toContain(alice!.line.mqttPassword);
  });

  it('disconnects a decommissioned meter and refuses it from then on', async () => {
    const client = await connect(bob!);
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    const res = await fetch(
      `${platform.service('registry').baseUrl}/v1/meters/${bob!.line.meterId}/decommission`,
      { method: 'POST', headers: { authorization: `Bearer ${platform.adminToken}` } },
    );
    expect(res.status).toBe(200);
    await closed;
    expect(linesOf(bob!)).toBe(0);
    await expect(connect(bob!)).rejects.toThrow(/not authori/i);
  });

  it('writes the password file again from the database when it starts', async () => {
    await platform.stop();
    writeFileSync(broker.passwordFile, '');
    process.kill(Number(readFileSync(broker.pidFile, 'utf8')), 'SIGHUP');
    await eventually(
      async () =>
        !(await connect(carol!).then(
          (c) => c.endAsync().then(() => true),
          () => false,
        )),
      { timeoutMs: 10_000, intervalMs: 100, what: 'the emptied file to lock carol out' },
    );
    platform = new Platform({
      infra,
      basePort: 4301,
      services: ['registry'],
      logTag: 'int-registry-password-file',
      extraEnv: { registry: env() },
    });
    await platform.start();
    const client = await eventually(() => connect(carol!).catch(() => undefined), {
      timeoutMs: 10_000,
      intervalMs: 100,
      what: 'carol to be let in again',
    });
    await expect(publish(client, `mtr/v1/${carol!.line.meterId}/up/events`)).resolves.toBeDefined();
    expect(linesOf(bob!)).toBe(0);
  });
});
