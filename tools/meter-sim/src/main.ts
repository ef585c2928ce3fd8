import { parseArgs } from 'node:util';
import { createLogger } from '@meterlink/observability';
import { generateFleet, writeFleet } from './fleet';
import { FleetSimulator } from './fleet-simulator';
import { loadScenario } from './scenario';

const log = createLogger('meter-sim');

const USAGE = `usage:
  meter-sim generate --scenario <file> --out <dir> [--tag T] [--seed N]
    --tag, --seed  a new fleet identity (meterIds, EIDs, ICCIDs) for repeated runs on one platform
  meter-sim run --scenario <file> --state <dir> --mqtt-url <url> --eim-jwks <url-or-file> [--duration-s N]
                [--smdp-url-template URL] [--gateway-connections N]
    --duration-s  real seconds to run (default: scenario durationS / speedup; 0 = until SIGTERM/SIGINT)
    --smdp-url-template  the carriers' SM-DP+ for downloads, {carrierId} replaced
                  (default: SMDP_URL_TEMPLATE, else http://127.0.0.1:3090/{carrierId})
    --gateway-connections  share N MQTT connections among all meters, with the broker identity
                  in MQTT_GATEWAY_USERNAME / MQTT_GATEWAY_PASSWORD (benchmarks; see README)
`;

class UsageError extends Error {}

function required(values: Record<string, string | undefined>, name: string): string {
  const value = values[name];
  if (value === undefined || value === '') throw new UsageError(`--${name} is required`);
  return value;
}

async function generate(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      scenario: { type: 'string' },
      out: { type: 'string' },
      tag: { type: 'string' },
      seed: { type: 'string' },
    },
    strict: true,
  });
  const loaded = await loadScenario(required(values, 'scenario'));
  const seed = values.seed === undefined ? loaded.seed : Number(values.seed);
  if (!Number.isSafeInteger(seed)) throw new UsageError('--seed must be an integer');
  if (values.tag !== undefined && !/^[A-Za-z0-9]{1,12}$/.test(values.tag))
    throw new UsageError('--tag must be 1 to 12 letters or digits');
  const scenario = { ...loaded, seed };
  const fleet = generateFleet(scenario, values.tag ? { fleetTag: values.tag } : {});
  const files = await writeFleet(fleet, required(values, 'out'));
  log.info({ scenario: scenario.name, meters: fleet.manifest.length, ...files }, 'fleet generated');
}

function gatewayFrom(
  connectionsText: string | undefined,
): { username: string; password: string; connections: number } | undefined {
  if (connectionsText === undefined) return undefined;
  const connections = Number(connectionsText);
  if (!Number.isInteger(connections) || connections < 1)
    throw new UsageError('--gateway-connections must be a whole number >= 1');
  const username = process.env.MQTT_GATEWAY_USERNAME;
  const password = process.env.MQTT_GATEWAY_PASSWORD;
  if (!username || !password)
    throw new UsageError(
      '--gateway-connections needs MQTT_GATEWAY_USERNAME and MQTT_GATEWAY_PASSWORD',
    );
  return { username, password, connections };
}

async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      scenario: { type: 'string' },
      state: { type: 'string' },
      'mqtt-url': { type: 'string' },
      'eim-jwks': { type: 'string' },
      'duration-s': { type: 'string' },
      'smdp-url-template': { type: 'string' },
      'gateway-connections': { type: 'string' },
    },
    strict: true,
  });
  const scenario = await loadScenario(required(values, 'scenario'));
  const durationText = values['duration-s'];
  const durationS = durationText === undefined ? undefined : Number(durationText);
  if (durationS !== undefined && (!Number.isFinite(durationS) || durationS < 0)) {
    throw new UsageError('--duration-s must be a number of seconds >= 0');
  }
  const gateway = gatewayFrom(values['gateway-connections']);
  const simulator = new FleetSimulator({
    scenario,
    stateDir: required(values, 'state'),
    mqttUrl: required(values, 'mqtt-url'),
    eimJwks: required(values, 'eim-jwks'),
    ...(durationS !== undefined ? { durationS } : {}),
    ...(values['smdp-url-template'] ? { smdpUrlTemplate: values['smdp-url-template'] } : {}),
    ...(gateway ? { gateway } : {}),
  });
  const onSignal = (signal: NodeJS.Signals): void => {
    log.info({ signal }, 'stopping');
    simulator.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error instanceof Error ? error.message : String(error) }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  await simulator.start();
  await simulator.finished();
}

async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  if (command === 'generate') return generate(args);
  if (command === 'run') return run(args);
  throw new UsageError(command === undefined ? 'no command given' : `unknown command ${command}`);
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (error: unknown) => {
    if (
      error instanceof UsageError ||
      (error instanceof Error && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS'))
    ) {
      process.stderr.write(`${error.message}\n${USAGE}`);
      process.exit(2);
    }
    log.error({ err: error instanceof Error ? error.message : String(error) }, 'meter-sim failed');
    process.exit(1);
  },
);
