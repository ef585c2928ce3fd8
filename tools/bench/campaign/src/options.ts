import { parseArgs } from 'node:util';

export interface CampaignBenchOptions {
  meters: number;
  /** Share of the meters without a target-carrier profile (they download one). */
  downloadShare: number;
  /** MQTT connections the simulated meters share (the simulator's gateway mode). */
  connections: number;
  /**
   * First of seven ports: registry, ingestion, coverage-monitor, orchestrator, billing (HTTP),
   * the SM-DP+ simulator, and the registry's throwaway broker (MQTT).
   */
  basePort: number;
  canarySize: number;
  growthFactor: number;
  maxWaveSize: number;
  /** SM-DP+ download orders per minute per carrier (simulator and orchestrator). */
  smdpPerMin: number;
  /** Simulated meters' attach time after a switch, seconds [min, max]. */
  attachS: [number, number];
  timeoutS: number;
  orchestratorEnv: Record<string, string>;
  out: string | undefined;
}

export const USAGE = `npm run bench:campaign -- [options]

A supplier-change campaign over a simulated fleet, end to end on a platform of its own: the five
services and the SM-DP+ simulator as processes, the meters (meter simulator, many per MQTT
connection) answering fast. Creates the campaign through the operator API (region selector),
approves it, and prints the duration, per-wave timings, swaps/s and SM-DP+ calls. Uses the
infrastructure in the environment (KAFKA_BROKERS, MQTT_URL, REDIS_URL, DATABASE_URL, MQTT_ADMIN_*,
MQTT_INGESTION_*), or asks tools/stack/stack.sh env (METERLINK_STACK_DIR and the port variables).

  --meters N              fleet size, all in one region on carrier A             default 10000
  --download-share X      share without a carrier-B profile (download first)     default 0.1
  --connections N         MQTT connections the meters share                      default 16
  --base-port P           first of 7 ports (5 services, SM-DP+, a broker)       default 5280
  --canary N              first wave                                             default 100
  --growth X              wave growth factor                                     default 2
  --max-wave N            largest wave                                           default 2500
  --smdp-per-min N        SM-DP+ orders per minute per carrier                   default 6000
  --attach-s MIN,MAX      meters' attach time after a switch                     default 1,2
  --timeout-s N           give up after                                          default 3600
  --orchestrator-env K=V  extra orchestrator environment (repeatable)
  --out FILE              JSON report (default tmp/bench-campaign/<run>/report.json)
  -h, --help
`;

export class UsageError extends Error {}

function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value.replace(/_/g, ''));
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${name} must be a positive integer`);
  return n;
}

function number(
  name: string,
  value: string | undefined,
  fallback: number,
  min: number,
  max: number,
) {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || n > max)
    throw new UsageError(`${name} must be a number from ${min} to ${max}`);
  return n;
}

export function parseOptions(argv: string[]): CampaignBenchOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      meters: { type: 'string' },
      'download-share': { type: 'string' },
      connections: { type: 'string' },
      'base-port': { type: 'string' },
      canary: { type: 'string' },
      growth: { type: 'string' },
      'max-wave': { type: 'string' },
      'smdp-per-min': { type: 'string' },
      'attach-s': { type: 'string' },
      'timeout-s': { type: 'string' },
      'orchestrator-env': { type: 'string', multiple: true },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const attach = (values['attach-s'] ?? '1,2').split(',').map(Number);
  if (
    attach.length !== 2 ||
    !attach.every((n) => Number.isFinite(n) && n >= 0) ||
    attach[0]! > attach[1]!
  )
    throw new UsageError('--attach-s must be MIN,MAX seconds');
  const orchestratorEnv: Record<string, string> = {};
  for (const pair of values['orchestrator-env'] ?? []) {
    const eq = pair.indexOf('=');
    if (eq < 1) throw new UsageError(`--orchestrator-env ${pair}: expected KEY=VALUE`);
    orchestratorEnv[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const basePort = positiveInt('--base-port', values['base-port'], 5280);
  if (basePort + 6 > 65_535) throw new UsageError('--base-port too high');
  return {
    meters: positiveInt('--meters', values.meters, 10_000),
    downloadShare: number('--download-share', values['download-share'], 0.1, 0, 1),
    connections: positiveInt('--connections', values.connections, 16),
    basePort,
    canarySize: positiveInt('--canary', values.canary, 100),
    growthFactor: number('--growth', values.growth, 2, 1, 100),
    maxWaveSize: positiveInt('--max-wave', values['max-wave'], 2_500),
    smdpPerMin: positiveInt('--smdp-per-min', values['smdp-per-min'], 6_000),
    attachS: [attach[0]!, attach[1]!],
    timeoutS: positiveInt('--timeout-s', values['timeout-s'], 3_600),
    orchestratorEnv,
    out: values.out,
  };
}
