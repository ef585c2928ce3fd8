export interface BenchOptions {
  /** Meters in the fleet (all tracked by the monitor). */
  meters: number;
  /** Input rate of the fill and steady phases (messages/s). */
  rate: number;
  /** Seconds of steady input at `rate` after every meter was tracked once. */
  steadyS: number;
  /** Input rate of the latency phase (messages/s). */
  latencyRate: number;
  latencyS: number;
  /** Meters that report every 30 s and then fall silent (silence lateness). */
  silentMeters: number;
  /** Meters that send three bad reports in a row during the latency phase. */
  degraders: number;
  /** Reports produced while the monitor is stopped, then drained (0: skip this phase). */
  drain: number;
  /** HTTP port of the coverage-monitor the bench starts. */
  port: number;
  /** Delete existing coverage state (cov:* keys) first, instead of refusing to run. */
  resetState: boolean;
}

export const DEFAULT_OPTIONS: BenchOptions = {
  meters: 1_000_000,
  rate: 20_000,
  steadyS: 60,
  latencyRate: 11_000,
  latencyS: 60,
  silentMeters: 2_000,
  degraders: 3_000,
  drain: 600_000,
  port: 5003,
  resetState: false,
};

const NUMERIC: Record<string, keyof BenchOptions> = {
  '--meters': 'meters',
  '--rate': 'rate',
  '--steady-s': 'steadyS',
  '--latency-rate': 'latencyRate',
  '--latency-s': 'latencyS',
  '--silent-meters': 'silentMeters',
  '--degraders': 'degraders',
  '--drain': 'drain',
  '--port': 'port',
};

export const USAGE = `npm run bench:coverage -- [options]
  --meters N          fleet size (${DEFAULT_OPTIONS.meters})
  --rate N            fill and steady input, messages/s (${DEFAULT_OPTIONS.rate})
  --steady-s N        seconds of steady input (${DEFAULT_OPTIONS.steadyS})
  --latency-rate N    input during the latency phase, messages/s (${DEFAULT_OPTIONS.latencyRate})
  --latency-s N       seconds of the latency phase, at least 50 (${DEFAULT_OPTIONS.latencyS})
  --silent-meters N   30-s meters that fall silent (${DEFAULT_OPTIONS.silentMeters})
  --degraders N       meters sent three bad reports (${DEFAULT_OPTIONS.degraders})
  --drain N           backlog drained after a restart, 0 to skip (${DEFAULT_OPTIONS.drain})
  --port N            coverage-monitor HTTP port (${DEFAULT_OPTIONS.port})
  --reset-state       delete existing cov:* keys in Redis first
Needs KAFKA_BROKERS and REDIS_URL (eval "$(tools/stack/stack.sh env)") and a built dist/.`;

export function parseOptions(argv: readonly string[]): BenchOptions {
  const options: BenchOptions = { ...DEFAULT_OPTIONS };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--reset-state') {
      options.resetState = true;
      continue;
    }
    const key = NUMERIC[arg];
    const value = Number(argv[i + 1]);
    if (!key || !Number.isFinite(value) || value < 0)
      throw new Error(`bad argument ${arg} ${argv[i + 1] ?? ''}\n${USAGE}`);
    (options[key] as number) = value;
    i++;
  }
  if (options.silentMeters + options.degraders >= options.meters)
    throw new Error('silent meters and degraders must leave steady meters');
  if (options.latencyS < 50) throw new Error('--latency-s must be at least 50 (30-s meters go silent after 45 s)');
  return options;
}
