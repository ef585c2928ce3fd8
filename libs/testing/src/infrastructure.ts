import { execFile, execFileSync } from 'node:child_process';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const libRoot = join(__dirname, '..', '..', '..');
/** The repository, whether this runs from source (jest) or from dist/ (benchmarks). */
export const REPO_ROOT = basename(libRoot) === 'dist' ? dirname(libRoot) : libRoot;

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
export type InfraEnv = Record<(typeof INFRA_VARIABLES)[number], string>;

/** The infrastructure the jest global setup started, as the test workers see it. */
export function infraEnv(): InfraEnv {
  const env = fromEnvironment(process.env);
  if (!env)
    throw new Error(
      `infrastructure variables missing (${INFRA_VARIABLES.join(', ')}): run through the integration or e2e jest config`,
    );
  return env;
}

export interface Infrastructure {
  /** How it was provided: `existing` servers, `testcontainers`, or the project's `stack` scripts. */
  kind: 'existing' | 'testcontainers' | 'stack';
  env: InfraEnv;
  /**
   * Further variables the stack prints (`stack.sh env`: the registry's broker-credentials mode,
   * password file, schema owner, device PKI), exported to the test workers beside `env`.
   */
  extra?: Record<string, string>;
  /** Stops what this run started (nothing for existing servers). */
  stop(): Promise<void>;
}

function fromEnvironment(env: NodeJS.ProcessEnv): InfraEnv | undefined {
  const values = INFRA_VARIABLES.map((name) => env[name]);
  if (values.some((v) => !v)) return undefined;
  return Object.fromEntries(INFRA_VARIABLES.map((name) => [name, env[name]!])) as InfraEnv;
}

function parseExports(text: string): Record<string, string> {
  const result: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^export ([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (match) result[match[1]!] = match[2]!.replace(/^['"]|['"]$/g, '');
  }
  return result;
}

async function dockerAvailable(): Promise<boolean> {
  if (process.env.METERLINK_INFRA === 'stack') return false;
  try {
    await run('docker', ['info', '--format', '{{.ServerVersion}}'], { timeout: 5_000 });
    return true;
  } catch {
    return false;
  }
}

/**
 * One interface for the real infrastructure tests need. `KAFKA_BROKERS` and friends point at
 * existing servers; otherwise Testcontainers when a Docker engine answers; otherwise the
 * project's own `tools/stack/stack.sh`, which runs everything from local binaries.
 */
export async function startInfrastructure(): Promise<Infrastructure> {
  const existing = fromEnvironment(process.env);
  if (existing) return { kind: 'existing', env: existing, stop: () => Promise.resolve() };
  if (await dockerAvailable()) {
    const { startContainers } = await import('./containers');
    return startContainers();
  }
  const script = join(REPO_ROOT, 'tools', 'stack', 'stack.sh');
  const wasUp = await run('bash', [script, 'status', '--quiet'], { cwd: REPO_ROOT }).then(
    () => true,
    () => false,
  );
  await run('bash', [script, 'up'], {
    cwd: REPO_ROOT,
    timeout: 600_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  const { stdout } = await run('bash', [script, 'env'], { cwd: REPO_ROOT });
  const exported = parseExports(stdout);
  const env = fromEnvironment(exported);
  if (!env)
    throw new Error(
      `tools/stack/stack.sh env did not print every variable: ${INFRA_VARIABLES.join(', ')}`,
    );
  return {
    kind: 'stack',
    env,
    extra: exported,
    // A stack that was already running (a developer's) is left running.
    stop: async () => {
      if (!wasUp && process.env.METERLINK_KEEP_STACK !== '1')
        await run('bash', [script, 'down'], { cwd: REPO_ROOT, timeout: 120_000 });
    },
  };
}

/**
 * Variables of the project's stack beyond InfraEnv (`tools/stack/stack.sh env`: device PKI, the
 * meters' listener, the broker-credentials mode, the schema owner): from the environment when
 * they were exported (npm test and the global setup do), else asked from `stack.sh env`. Throws
 * naming the ones neither has (a stack started by an older stack.sh lacks some).
 */
export function stackVariables<const N extends string>(names: readonly N[]): Record<N, string> {
  const fromEnv = names.map((name) => process.env[name]);
  if (fromEnv.every(Boolean))
    return Object.fromEntries(names.map((name, i) => [name, fromEnv[i]!])) as Record<N, string>;
  const found = parseExports(
    execFileSync('bash', [join(REPO_ROOT, 'tools', 'stack', 'stack.sh'), 'env'], {
      encoding: 'utf8',
    }),
  );
  const missing = names.filter((name) => !found[name]);
  if (missing.length > 0) throw new Error(`stack.sh env does not print ${missing.join(', ')}`);
  return Object.fromEntries(names.map((name) => [name, found[name]!])) as Record<N, string>;
}
