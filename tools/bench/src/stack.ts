import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The bench's own instance of the local stack (tools/stack/stack.sh), with its state in
 * `.bench-stack/` and ports of its own, so a benchmark neither disturbs nor is disturbed by the
 * developer stack (`.stack/`, ports 1xxxx) or the tests' processes.
 */
export const BENCH_STACK_PORTS = {
  KAFKA_PORT: '29092',
  KAFKA_CONTROLLER_PORT: '29093',
  MQTT_PORT: '21883',
  // The broker's TLS listener for meter certificates: unused by the bench, but it must not take
  // the developer stack's port (18883).
  MQTT_TLS_PORT: '28883',
  REDIS_PORT: '26379',
  PG_PORT: '25432',
} as const;

export const INFRA_VARIABLES = [
  'KAFKA_BROKERS',
  'MQTT_URL',
  'REDIS_URL',
  'DATABASE_URL',
  'MQTT_ADMIN_USERNAME',
  'MQTT_ADMIN_PASSWORD',
  'MQTT_INGESTION_USERNAME',
  'MQTT_INGESTION_PASSWORD',
] as const;
/**
 * Every variable the stack prints (the services need more than the required ones, e.g. the
 * registry's broker-credentials mode, password file and broker pid file), the required ones
 * checked.
 */
export type InfraEnv = Record<(typeof INFRA_VARIABLES)[number], string> & Record<string, string>;

export class BenchStack {
  readonly dir: string;
  private readonly script: string;

  constructor(private readonly repoRoot: string) {
    this.dir = join(repoRoot, '.bench-stack');
    this.script = join(repoRoot, 'tools', 'stack', 'stack.sh');
  }

  private run(command: string, capture: boolean): Promise<string> {
    return new Promise((resolve, reject) => {
      const child = spawn('bash', [this.script, command], {
        cwd: this.repoRoot,
        env: { ...process.env, METERLINK_STACK_DIR: this.dir, ...BENCH_STACK_PORTS },
        // Progress of up/down goes straight to the terminal (stderr: stdout carries the report).
        stdio: ['ignore', capture ? 'pipe' : 2, 2],
      });
      let out = '';
      child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
      child.once('error', reject);
      child.once('exit', (code) =>
        code === 0 ? resolve(out) : reject(new Error(`stack.sh ${command} exited with ${code}`)),
      );
    });
  }

  async up(): Promise<void> {
    // Mosquitto 2.0.11 (Debian 12's) restoring a database that holds an earlier run's ingestion
    // sessions was seen to expire clients that are connected and then abort (will_delay.c:104,
    // `will_delay__remove: Assertion (delay_list) != NULL`), two restarts out of two. The bench's
    // broker state is disposable: each run starts from an empty database.
    rmSync(join(this.dir, 'mosquitto', 'mosquitto.db'), { force: true });
    await this.run('up', false);
  }

  async down(): Promise<void> {
    await this.run('down', false);
  }

  async env(): Promise<InfraEnv> {
    const text = await this.run('env', true);
    const values: Record<string, string> = {};
    for (const line of text.split('\n')) {
      const match = /^export ([A-Z0-9_]+)=(.*)$/.exec(line.trim());
      if (match) values[match[1]!] = match[2]!.replace(/^['"]|['"]$/g, '');
    }
    const missing = INFRA_VARIABLES.filter((name) => !values[name]);
    if (missing.length > 0) throw new Error(`stack.sh env did not print ${missing.join(', ')}`);
    return values as InfraEnv;
  }

  /** Pid of a running infrastructure component (kafka, mosquitto, redis), for CPU accounting. */
  pid(component: 'kafka' | 'mosquitto' | 'redis'): number | undefined {
    try {
      const pid = Number(readFileSync(join(this.dir, 'run', `${component}.pid`), 'utf8').trim());
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  }
}
