import { parseArgs } from 'node:util';

export type ImportPath = 'rest' | 'cli';
export type BrokerMode = 'stack' | 'password-file' | 'dynsec';

export interface ImportBenchOptions {
  meters: number;
  via: ImportPath;
  broker: BrokerMode;
  /** Registry HTTP port (the registry's test ports are 4301 and 4601; 4390 is the bench's). */
  port: number;
  /** Manifest lines per registry batch (IMPORT_BATCH_SIZE). */
  batchSize: number | undefined;
  /** Meters probed over MQTT after the import: connect, publish own topic, refused elsewhere. */
  probes: number;
  /** Import the same manifest a second time (idempotence: all unchanged). */
  again: boolean;
  registryEnv: Record<string, string>;
  /** Run the registry under node --cpu-prof and print where its CPU time went. */
  profile: boolean;
  out: string | undefined;
}

export const USAGE = `npm run bench:import -- [options]

Imports a generated factory manifest into a registry process of its own and prints meters/s, wall
time, the registry's peak RSS and the broker provisioning time. Uses the infrastructure in the
environment (KAFKA_BROKERS, DATABASE_URL, MQTT_URL, MQTT_ADMIN_*), or asks tools/stack/stack.sh env
(METERLINK_STACK_DIR and the port variables select the stack).

  --meters N             manifest lines (unique meters per run)                  default 100000
  --via rest|cli         stream the manifest to POST /v1/imports/manifest, or run the registry
                         CLI (registry-cli import-manifest FILE) on a file written first  default rest
  --broker stack|password-file|dynsec
                         stack: the stack's broker as stack.sh env sets the registry up (the
                         default mode: BROKER_CREDENTIALS=password-file, the stack's password file,
                         migrations as the schema owner); meters probed on its meters' listener;
                         password-file: a Mosquitto of the bench's own with password_file and the
                         acl_file patterns (BROKER_CREDENTIALS=password-file);
                         dynsec: the stack's broker, one dynsec client and role per meter
                                                                                  default stack
  --batch-size N         IMPORT_BATCH_SIZE of the registry                       default: the registry's
  --probes N             meters checked over MQTT after the import               default 3
  --again                import the same manifest a second time (all lines unchanged)
  --port P               registry HTTP port                                      default 4390
  --registry-env K=V     extra registry environment (repeatable)
  --profile              run the registry under node --cpu-prof; print its top self-time functions
  --out FILE             JSON report (default tmp/bench-import/<run>/report.json)
  -h, --help
`;

export class UsageError extends Error {}

function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value.replace(/_/g, ''));
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${name} must be a positive integer`);
  return n;
}

export function parseOptions(argv: string[]): ImportBenchOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      meters: { type: 'string' },
      via: { type: 'string' },
      broker: { type: 'string' },
      port: { type: 'string' },
      'batch-size': { type: 'string' },
      probes: { type: 'string' },
      again: { type: 'boolean' },
      profile: { type: 'boolean' },
      'registry-env': { type: 'string', multiple: true },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const via = values.via ?? 'rest';
  if (via !== 'rest' && via !== 'cli') throw new UsageError('--via must be rest or cli');
  const broker = values.broker ?? 'stack';
  if (broker !== 'stack' && broker !== 'password-file' && broker !== 'dynsec')
    throw new UsageError('--broker must be stack, password-file or dynsec');
  const registryEnv: Record<string, string> = {};
  for (const pair of values['registry-env'] ?? []) {
    const cut = pair.indexOf('=');
    if (cut < 1) throw new UsageError(`--registry-env wants K=V, got ${pair}`);
    registryEnv[pair.slice(0, cut)] = pair.slice(cut + 1);
  }
  return {
    meters: positiveInt('--meters', values.meters, 100_000),
    via,
    broker,
    port: positiveInt('--port', values.port, 4390),
    batchSize:
      values['batch-size'] === undefined
        ? undefined
        : positiveInt('--batch-size', values['batch-size'], 1),
    probes: values.probes === '0' ? 0 : positiveInt('--probes', values.probes, 3),
    again: values.again ?? false,
    profile: values.profile ?? false,
    registryEnv,
    out: values.out,
  };
}
