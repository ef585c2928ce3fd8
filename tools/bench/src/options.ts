import { parseArgs } from 'node:util';
import type { PublisherKind } from './publisher';

export type RateStep = number | 'max';
export type BenchMode = 'both' | 'baseline-only' | 'ingestion-only' | 'generator-only';

export interface BenchOptions {
  meters: number;
  connections: number;
  /** Ingestion phases, one per step, in order. */
  rates: RateStep[];
  /** What "max" offers, and what the baseline bridge is offered (more than it can take). */
  offeredRate: number;
  baselineRate: number;
  durationS: number;
  baselineDurationS: number;
  warmupS: number;
  mode: BenchMode;
  publisher: PublisherKind;
  signed: boolean;
  profile: boolean;
  keepStack: boolean;
  drainIdleS: number;
  drainMaxS: number;
  importChunk: number;
  ingestionEnv: Record<string, string>;
  out: string | undefined;
}

export const USAGE = `npm run bench:ingest -- [options]

Benchmarks MQTT → Kafka ingestion on a stack of its own (.bench-stack/, ports 29092, 21883,
26379, 25432), against a baseline bridge (mosquitto_sub | kcat) in the same run.

  --rate R             ingestion phase(s): a rate in msg/s, "max", or a comma list of steps
                       (e.g. 11000 | max | 20000,30000,40000)             default 11000
  --offered-rate R     what "--rate max" offers (must exceed the capacity)   default 50000
  --baseline-rate R    what the baseline bridge is offered (its max rate is measured,
                       so this must exceed what it can take)                  default = --offered-rate
  --duration-s S       seconds of load per ingestion phase                   default 60
  --baseline-duration-s S                                                    default = --duration-s
  --warmup-s S         first seconds of each phase left out of rate and latency   default 5
  --meters N           registered bench meters (imported once per bench stack)    default 10000
  --connections C      load-generator MQTT connections ("concentrators")          default 8
  --publisher raw|mqttjs  raw MQTT 5 over a socket, or mqtt.js (for comparison)   default raw
  --signed             signed telemetry (ES256 JWS) from meters with signedTelemetry true;
                       the whole schedule is signed before the phase starts
  --baseline-only | --ingestion-only | --generator-only (publish to a topic nobody reads:
                       what the generator and the broker alone can do)
  --profile            run ingestion under node --cpu-prof and print its top self-time functions
  --ingestion-env K=V  extra environment for the ingestion service (repeatable)
  --drain-idle-s S     after the load, stop waiting when Kafka got nothing new for S s   default 10
  --drain-max-s S      ... or after S s in any case                                default 600
  --import-chunk N     manifest lines per import request                           default 1000
  --out FILE           JSON report (default tmp/bench/<run>/report.json)
  --keep-stack         leave the bench stack running afterwards
  -h, --help
`;

export class UsageError extends Error {}

function positive(
  name: string,
  text: string | undefined,
  fallback: number,
  integer = true,
): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n)))
    throw new UsageError(`--${name} must be a positive ${integer ? 'integer' : 'number'}`);
  return n;
}

export function parseOptions(args: string[]): BenchOptions | 'help' {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      rate: { type: 'string' },
      'offered-rate': { type: 'string' },
      'baseline-rate': { type: 'string' },
      'duration-s': { type: 'string' },
      'baseline-duration-s': { type: 'string' },
      'warmup-s': { type: 'string' },
      meters: { type: 'string' },
      connections: { type: 'string' },
      publisher: { type: 'string' },
      signed: { type: 'boolean' },
      'baseline-only': { type: 'boolean' },
      'ingestion-only': { type: 'boolean' },
      'generator-only': { type: 'boolean' },
      profile: { type: 'boolean' },
      'ingestion-env': { type: 'string', multiple: true },
      'drain-idle-s': { type: 'string' },
      'drain-max-s': { type: 'string' },
      'import-chunk': { type: 'string' },
      out: { type: 'string' },
      'keep-stack': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  const rates: RateStep[] = (values.rate ?? '11000').split(',').map((step) => {
    const text = step.trim();
    return text === 'max' ? 'max' : positive('rate', text, 0, false);
  });
  const modes = (['baseline-only', 'ingestion-only', 'generator-only'] as const).filter(
    (m) => values[m],
  );
  if (modes.length > 1) throw new UsageError(`choose one of --${modes.join(', --')}`);
  const publisher = values.publisher ?? 'raw';
  if (publisher !== 'raw' && publisher !== 'mqttjs')
    throw new UsageError('--publisher must be raw or mqttjs');
  const offeredRate = positive('offered-rate', values['offered-rate'], 50_000, false);
  const durationS = positive('duration-s', values['duration-s'], 60, false);
  const warmupText = values['warmup-s'];
  const warmupS = warmupText === undefined ? Math.min(5, durationS / 4) : Number(warmupText);
  if (!Number.isFinite(warmupS) || warmupS < 0 || warmupS >= durationS)
    throw new UsageError('--warmup-s must be >= 0 and shorter than --duration-s');
  const ingestionEnv: Record<string, string> = {};
  for (const kv of values['ingestion-env'] ?? []) {
    const match = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(kv);
    if (!match) throw new UsageError(`--ingestion-env expects NAME=value, got ${kv}`);
    ingestionEnv[match[1]!] = match[2]!;
  }
  const options: BenchOptions = {
    meters: positive('meters', values.meters, 10_000),
    connections: positive('connections', values.connections, 8),
    rates,
    offeredRate,
    baselineRate: positive('baseline-rate', values['baseline-rate'], offeredRate, false),
    durationS,
    baselineDurationS: positive(
      'baseline-duration-s',
      values['baseline-duration-s'],
      durationS,
      false,
    ),
    warmupS,
    mode: modes[0] ?? 'both',
    publisher,
    signed: values.signed ?? false,
    profile: values.profile ?? false,
    keepStack: values['keep-stack'] ?? false,
    drainIdleS: positive('drain-idle-s', values['drain-idle-s'], 10, false),
    drainMaxS: positive('drain-max-s', values['drain-max-s'], 600, false),
    importChunk: positive('import-chunk', values['import-chunk'], 1000),
    ingestionEnv,
    out: values.out,
  };
  if (options.meters > 9_999_999) throw new UsageError('--meters must be below 10,000,000');
  // The seq base is the wall clock in ms (see schedule.ts): no meter may send 500 msg/s or more.
  const fastest = Math.max(
    options.offeredRate,
    options.baselineRate,
    ...rates.map((r) => (r === 'max' ? 0 : r)),
  );
  if (fastest / options.meters >= 500)
    throw new UsageError(
      `${fastest} msg/s over ${options.meters} meters is 500 msg/s per meter or more`,
    );
  if (options.warmupS >= options.baselineDurationS)
    throw new UsageError('--warmup-s must be shorter than --baseline-duration-s');
  return options;
}
