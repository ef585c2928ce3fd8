import { spawn, type ChildProcess } from 'node:child_process';
import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import mqtt from 'mqtt';

/** The registry's broker policy for meters in BROKER_CREDENTIALS=password-file mode. */
export const METER_ACL_PATTERNS = 'pattern write mtr/v1/%u/up/#\npattern read mtr/v1/%u/down/#\n';

function dynsecPlugin(): string {
  const candidates = [
    '/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so',
    ...(existsSync('/usr/lib')
      ? readdirSync('/usr/lib').map((d) => join('/usr/lib', d, 'mosquitto_dynamic_security.so'))
      : []),
    '/usr/lib/mosquitto_dynamic_security.so',
    '/usr/local/lib/mosquitto_dynamic_security.so',
  ];
  const found = candidates.find((p) => existsSync(p));
  if (!found)
    throw new Error('mosquitto_dynamic_security.so not found (apt-get install mosquitto)');
  return found;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
}

/**
 * A Mosquitto 2.0 of the bench's own, set up the way password-file mode expects a broker:
 * dynsec for the admin (and, in a deployment, the services), `password_file` written by the
 * registry, and `acl_file` patterns that confine each meter to its own topics. The stack's broker
 * has neither file, so the bench brings its own rather than changing the shared one.
 */
export class BenchBroker {
  readonly adminUsername = 'bench-admin';
  readonly adminPassword = randomBytes(18).toString('base64url');
  readonly passwordFile: string;
  readonly pidFile: string;
  private child: ChildProcess | undefined;
  port = 0;

  constructor(private readonly dir: string) {
    this.passwordFile = join(dir, 'meters.passwd');
    this.pidFile = join(dir, 'mosquitto.pid');
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    this.port = await freePort();
    const salt = randomBytes(12);
    const hash = pbkdf2Sync(this.adminPassword, salt, 101, 64, 'sha512');
    const control = '$CONTROL/dynamic-security/#';
    writeFileSync(
      join(this.dir, 'dynamic-security.json'),
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
            password: hash.toString('base64'),
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
              (acltype) => ({ acltype, topic: control, priority: 0, allow: true }),
            ),
          },
        ],
      }),
      { mode: 0o600 },
    );
    writeFileSync(this.passwordFile, '', { mode: 0o600 });
    writeFileSync(join(this.dir, 'meters.acl'), METER_ACL_PATTERNS);
    const conf = [
      'per_listener_settings false',
      `listener ${this.port} 127.0.0.1`,
      'allow_anonymous false',
      `plugin ${dynsecPlugin()}`,
      `plugin_opt_config_file ${join(this.dir, 'dynamic-security.json')}`,
      `password_file ${this.passwordFile}`,
      `acl_file ${join(this.dir, 'meters.acl')}`,
      // As root, mosquitto would drop to the mosquitto user, who cannot read this directory.
      ...(process.getuid?.() === 0 ? ['user root'] : []),
      'persistence false',
      'message_size_limit 32768',
      `log_dest file ${join(this.dir, 'mosquitto.log')}`,
      'log_type error',
      'log_type warning',
      'log_type notice',
    ].join('\n');
    writeFileSync(join(this.dir, 'mosquitto.conf'), `${conf}\n`);
    const child = spawn('mosquitto', ['-c', join(this.dir, 'mosquitto.conf')], {
      stdio: 'ignore',
    });
    this.child = child;
    writeFileSync(this.pidFile, `${child.pid}\n`);
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (child.exitCode !== null)
        throw new Error(`mosquitto exited with ${child.exitCode}; see ${this.dir}/mosquitto.log`);
      try {
        const client = await mqtt.connectAsync(this.url, {
          username: this.adminUsername,
          password: this.adminPassword,
          clientId: `bench-probe-${process.pid}`,
          protocolVersion: 5,
          reconnectPeriod: 0,
          connectTimeout: 2_000,
        });
        await client.endAsync();
        return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** Stops the broker and removes the password file (up to 150 MB for a million meters). */
  async stop(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await gone;
    }
    rmSync(this.passwordFile, { force: true });
  }
}
