// Rating alone, in one process, no I/O: a month of 15-minute readings for N meters through
// rateConsumption, and a month of telemetry usage plus swaps through rateConnectivity. What the
// billing service adds (Kafka, PostgreSQL) is measured by its own benchmark.
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { SPEC_SAMPLE_CARRIERS, type CarrierTariff } from '@meterlink/contracts';
import {
  buildEnableTimeline,
  parseTariffFile,
  rateConnectivity,
  rateConsumption,
  type RegisterReading,
  type UsageSample,
} from '@meterlink/billing-domain';

interface Options {
  meters: number;
  runs: number;
  /** Readings land up to this many seconds after their quarter hour (0: on it, as meters report). */
  jitterS: number;
  /** Share of readings missing (gaps). */
  missing: number;
}

const USAGE = `npm run bench:rating -- [--meters N (1000)] [--runs N (3)] [--jitter-s N (0)] [--missing F (0.01)]`;

function parseOptions(argv: string[]): Options {
  const o: Options = { meters: 1000, runs: 3, jitterS: 0, missing: 0.01 };
  for (let i = 0; i < argv.length; i += 2) {
    const value = Number(argv[i + 1]);
    if (!Number.isFinite(value)) throw new Error(USAGE);
    if (argv[i] === '--meters') o.meters = value;
    else if (argv[i] === '--runs') o.runs = value;
    else if (argv[i] === '--jitter-s') o.jitterS = value;
    else if (argv[i] === '--missing') o.missing = value;
    else throw new Error(USAGE);
  }
  return o;
}

/** mulberry32: the same fleet every run. */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

const PERIOD = '2026-10'; // 31 days, with the autumn DST change
const FROM = Date.parse('2026-09-30T22:00:00Z');
const TO = Date.parse('2026-11-01T02:00:00Z');
const QUARTER_MS = 900_000;

function fleet(o: Options) {
  const random = prng(42);
  const readings: RegisterReading[][] = [];
  const usage: UsageSample[][] = [];
  for (let m = 0; m < o.meters; m++) {
    const r: RegisterReading[] = [];
    const u: UsageSample[] = [];
    let value = Math.floor(random() * 1e7);
    for (let t = FROM; t <= TO; t += QUARTER_MS) {
      value += Math.floor(random() * 400);
      if (random() < o.missing) continue;
      const at = t + Math.floor(random() * o.jitterS * 1000);
      r.push({ at, value });
      u.push({
        at,
        carrierId: at < FROM + 20 * 86_400_000 ? 'carrier-a' : 'carrier-b',
        bytes: 180,
      });
    }
    readings.push(r);
    usage.push(u);
  }
  return { readings, usage };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

function main(): void {
  const o = parseOptions(process.argv.slice(2));
  const root = join(__dirname, '..', '..', '..', '..', '..');
  const tariff = parseTariffFile(
    JSON.parse(readFileSync(join(root, 'config', 'tariffs.json'), 'utf8')) as unknown,
  ).get('residential-tou');
  if (!tariff) throw new Error('config/tariffs.json has no residential-tou');
  const carrierTariffs = new Map<string, CarrierTariff>(
    SPEC_SAMPLE_CARRIERS.map((c) => [c.carrierId, c.tariff]),
  );
  const { readings, usage } = fleet(o);
  const totalReadings = readings.reduce((n, r) => n + r.length, 0);
  const timeline = buildEnableTimeline([
    {
      at: Date.parse('2026-09-01T00:00:00Z'),
      iccid: '8944150000000000017',
      carrierId: 'carrier-a',
      source: 'first-seen',
    },
    {
      at: FROM + 20 * 86_400_000,
      iccid: '8944200000000000022',
      carrierId: 'carrier-b',
      source: 'swap',
    },
  ]);
  console.log(
    `rating bench: ${o.meters} meters, ${totalReadings} readings (${PERIOD}, 15 min, jitter ${o.jitterS} s, ${o.missing * 100}% missing); node ${process.version}, ${cpus().length} cpus, load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  const consumption: number[] = [];
  const connectivity: number[] = [];
  let lines = 0;
  let amount = 0;
  for (let run = 1; run <= o.runs; run++) {
    let started = process.hrtime.bigint();
    lines = 0;
    amount = 0;
    for (let m = 0; m < o.meters; m++) {
      const rated = rateConsumption({
        meterId: `EM-${m}`,
        period: PERIOD,
        tariff,
        readings: { energy_import_wh: readings[m] ?? [] },
        reportIntervalS: 900,
      });
      lines += rated.lines.length;
      for (const l of rated.lines) amount += l.amountMinor;
    }
    const consumptionS = Number(process.hrtime.bigint() - started) / 1e9;
    started = process.hrtime.bigint();
    for (let m = 0; m < o.meters; m++) {
      const rated = rateConnectivity({
        meterId: `EM-${m}`,
        period: PERIOD,
        timeline,
        usage: usage[m] ?? [],
        operations: [],
        tariffs: carrierTariffs,
      });
      lines += rated.lines.length;
    }
    const connectivityS = Number(process.hrtime.bigint() - started) / 1e9;
    consumption.push(totalReadings / consumptionS);
    connectivity.push(totalReadings / connectivityS);
    console.log(
      `run ${run}: rateConsumption ${Math.round(totalReadings / consumptionS).toLocaleString('en')} readings/s (${consumptionS.toFixed(2)} s); rateConnectivity ${Math.round(totalReadings / connectivityS).toLocaleString('en')} usage samples/s (${connectivityS.toFixed(2)} s); ${lines} lines, consumption total ${amount} minor`,
    );
  }
  console.log(
    `median: rateConsumption ${Math.round(median(consumption)).toLocaleString('en')} readings/s, rateConnectivity ${Math.round(median(connectivity)).toLocaleString('en')} usage samples/s`,
  );
}

main();
