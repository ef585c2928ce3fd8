import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { createWriteStream, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Admin, Producer } from 'kafkajs';
import {
  TOPICS,
  stableEventId,
  type FleetCarrierRecord,
  type FleetMeterRecord,
  type MeterConnectivityRecord,
  type MeterReadingRecord,
} from '@meterlink/contracts';
import { createKafka, ensureTopics } from '@meterlink/kafka';
import { createPool, type Pool } from '@meterlink/postgres';

/**
 * Billing benchmark (issue 7): a month of 15-minute readings for a fleet (1,000 meters: 2.88 M
 * readings) produced to meter.readings.v1 first, then a billing service started from dist/ on
 * that backlog: how fast it moves readings from Kafka into the ledger and rates every month.
 * Run on a stack of its own (it leaves millions of readings in Kafka and PostgreSQL).
 */
const USAGE = `npm run bench:billing -- [options]   (KAFKA_BROKERS and DATABASE_URL of a bench stack)

  --meters N        meters (default 1000)
  --month YYYY-MM   the month of readings (default 2026-11)
  --interval-s S    reading interval (default 900)
  --port P          billing's HTTP port (default 5390; replicas take the next ones)
  --replicas N      billing processes in the group (default 1)
  --profile         run billing with --cpu-prof and print where its time went
  --semi-space MB   run billing with --max-semi-space-size=MB (V8 young generation)
  --no-produce      rate the backlog already in meter.readings.v1 (a run that stopped early)
  --replay          with --no-produce: drop the billing schema and move billing's group to the
                    start of its input topics, so the next run rates everything again
  --out DIR         report folder (default tmp/bench-billing)
`;

/** dist/tools/bench/billing/src → the repository. */
const REPO_ROOT = join(__dirname, '..', '..', '..', '..', '..');

const log = (message: string): void => {
  process.stdout.write(`[bench:billing ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
};
const round = (x: number, digits = 0): number => Math.round(x * 10 ** digits) / 10 ** digits;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: eval "$(bash tools/stack/stack.sh env)"`);
  return value;
}

const CLOCK_TICKS = 100;
function processSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}
/** CPU seconds of a process's waited-for children (ended backends, for the postmaster). */
function childrenSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[13]) + Number(fields[14])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}
function parentPid(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}
/**
 * CPU seconds of this stack's PostgreSQL: its postmaster (found as the parent of a process that
 * pg_stat_activity lists), its live children, and the children that ended (the postmaster's
 * waited-for children's time), so that neither another PostgreSQL on the box nor a backend that
 * ended meanwhile skews the figure.
 */
async function postgresSeconds(pool: Pool): Promise<number> {
  const { rows } = await pool.query<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid() LIMIT 1',
  );
  const postmaster = parentPid(rows[0]?.pid ?? 0);
  if (postmaster === undefined) return 0;
  let total = processSeconds(postmaster) + childrenSeconds(postmaster);
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p)))
    if (parentPid(Number(pid)) === postmaster) total += processSeconds(Number(pid));
  return total;
}
function machineBusySeconds(): number {
  const [user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8')
    .split('\n', 1)[0]!
    .split(/\s+/)
    .slice(1, 9)
    .map(Number);
  return (user! + nice! + system! + irq! + softirq! + steal!) / CLOCK_TICKS;
}

async function produceAll(
  producer: Producer,
  topic: string,
  count: number,
  make: (i: number) => { key: string; value: object },
): Promise<void> {
  const chunk = 5_000;
  const inFlight: Promise<unknown>[] = [];
  for (let i = 0; i < count; i += chunk) {
    const messages = [];
    for (let j = i; j < Math.min(count, i + chunk); j++) {
      const { key, value } = make(j);
      messages.push({ key, value: JSON.stringify(value) });
    }
    inFlight.push(producer.send({ topic, messages }));
    if (inFlight.length >= 4) await inFlight.shift();
    if ((i / chunk) % 50 === 0 && i > 0) log(`  ${topic}: ${i} produced`);
  }
  await Promise.all(inFlight);
}

/** Asks again while a fresh broker's group coordinator is still loading (a retriable error). */
async function retried<T>(ask: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await ask();
    } catch (error) {
      if ((error as { retriable?: boolean }).retriable !== true || attempt >= 40) throw error;
      await sleep(500);
    }
  }
}

async function committedBehind(admin: Admin, topic: string): Promise<number> {
  const ends = await retried(() => admin.fetchTopicOffsets(topic));
  const [committed] = await retried(() =>
    admin.fetchOffsets({ groupId: 'billing', topics: [topic] }),
  );
  let behind = 0;
  for (const end of ends) {
    const c = committed?.partitions.find((p) => p.partition === end.partition);
    const at = c && c.offset !== '-1' ? BigInt(c.offset) : 0n;
    behind += Number(BigInt(end.high) - at);
  }
  return behind;
}

function topSelfTime(dir: string, top = 15): string[] {
  const file = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .sort()
    .pop();
  if (!file) return [];
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as {
    nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
    samples: number[];
    timeDeltas: number[];
  };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, k) => {
    const node = byId.get(id);
    const us = profile.timeDeltas[k] ?? 0;
    if (!node || us <= 0 || node.callFrame.functionName === '(idle)') return;
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url
      ? ` ${url.replace(/^.*\/(node_modules|dist)\//, '$1/')}:${lineNumber + 1}`
      : '';
    const name = `${functionName || '(anonymous)'}${where}`;
    self.set(name, (self.get(name) ?? 0) + us);
    total += us;
  });
  return [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, us]) => `${((100 * us) / total).toFixed(1).padStart(5)} %  ${name}`);
}

/** Billing from dist/, as in production, ready when /health/ready answers 200. */
async function startBilling(
  port: number,
  env: Record<string, string>,
  logFile: string,
  nodeArgs: string[],
): Promise<ChildProcess> {
  const entry = join(REPO_ROOT, 'dist', 'apps', 'billing', 'src', 'main.js');
  const child = spawn(process.execPath, ['--enable-source-maps', ...nodeArgs, entry], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env, HTTP_PORT: String(port), TZ: 'UTC' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = createWriteStream(logFile, { flags: 'a' });
  child.stdout.pipe(out);
  child.stderr.pipe(out);
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`billing exited with ${child.exitCode}; see ${logFile}`);
    const res = await fetch(`http://127.0.0.1:${port}/health/ready`).catch(() => undefined);
    if (res?.status === 200) return child;
    if (Date.now() > deadline) throw new Error(`billing not ready after 120 s; see ${logFile}`);
    await sleep(200);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      meters: { type: 'string', default: '1000' },
      month: { type: 'string', default: '2026-11' },
      'interval-s': { type: 'string', default: '900' },
      port: { type: 'string', default: '5390' },
      replicas: { type: 'string', default: '1' },
      profile: { type: 'boolean', default: false },
      'semi-space': { type: 'string' },
      'no-produce': { type: 'boolean', default: false },
      replay: { type: 'boolean', default: false },
      out: { type: 'string', default: join(REPO_ROOT, 'tmp', 'bench-billing') },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const meters = Number(values.meters);
  const intervalMs = Number(values['interval-s']) * 1000;
  const month = values.month;
  const start = Date.UTC(Number(month.slice(0, 4)), Number(month.slice(5, 7)) - 1, 1);
  const end = Date.UTC(Number(month.slice(0, 4)), Number(month.slice(5, 7)), 1);
  const perMeter = Math.round((end - start) / intervalMs);
  const readings = meters * perMeter;
  const brokers = requireEnv('KAFKA_BROKERS');
  const databaseUrl = requireEnv('DATABASE_URL');
  mkdirSync(values.out, { recursive: true });

  const kafka = createKafka({ brokers: brokers.split(','), clientId: 'bench-billing' });
  await ensureTopics(kafka);
  const admin = kafka.admin();
  await admin.connect();
  const pool: Pool = createPool(databaseUrl, 'bench-billing', 2);
  if (values.replay) {
    // Billing must not run meanwhile: a group with members cannot be moved.
    await pool.query('DROP SCHEMA IF EXISTS billing CASCADE');
    for (const topic of [
      TOPICS.meterReadings,
      TOPICS.meterConnectivity,
      TOPICS.profileSwaps,
      TOPICS.fleetMeters,
      TOPICS.fleetCarriers,
    ])
      await admin.resetOffsets({ groupId: 'billing', topic: topic.name, earliest: true });
    log('billing schema dropped, group billing moved to the start of its input');
  }
  const hasLedger = await pool
    .query<{ n: number }>(
      `SELECT count(*)::int AS n FROM billing.charges WHERE meter_id LIKE 'BB-%' AND service_period = $1`,
      [month],
    )
    .then(
      (r) => r.rows[0]!.n,
      () => 0,
    );
  if (hasLedger > 0)
    throw new Error(
      `this stack already rated ${month} for the bench fleet: reset the stack (bash tools/stack/stack.sh reset) or pass another --month`,
    );

  // 1. The input, produced before billing starts: the measured run is Kafka → ledger only.
  const tag = month.replace('-', '');
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const k = publicKey.export({ format: 'jwk' });
  const jwk = { kty: 'EC' as const, crv: 'P-256' as const, x: k.x!, y: k.y! };
  const meterId = (i: number): string => `BB-${tag}-${String(i).padStart(6, '0')}`;
  const iccid = (i: number, p: number): string => `894400${tag}${String(i).padStart(6, '0')}${p}`;
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const producedAt = Date.now();
  const carrier: FleetCarrierRecord = {
    eventId: stableEventId('bench-billing', 'carrier'),
    type: 'fleet.carrier',
    at: new Date(start).toISOString(),
    carrierId: 'bench-a',
    name: 'Bench A',
    plmns: ['23415'],
    smdpAddress: 'smdp.bench-a.example',
    tariff: {
      currency: 'EUR',
      monthlyFeeMinor: 60,
      perMbMinor: 25,
      downloadFeeMinor: 150,
      swapFeeMinor: 20,
    },
  };
  if (!values['no-produce']) {
    await produceAll(producer, TOPICS.fleetCarriers.name, 1, () => ({
      key: carrier.carrierId,
      value: carrier,
    }));
    await produceAll(producer, TOPICS.fleetMeters.name, meters, (i) => {
      const value: FleetMeterRecord = {
        eventId: stableEventId('bench-billing', 'meter', meterId(i)),
        type: 'fleet.meter',
        at: new Date(start).toISOString(),
        meterId: meterId(i),
        eid: `89049032${tag}${String(i).padStart(18, '0')}`,
        kind: 'electricity',
        region: 'north',
        customerId: `BENCH-${i % 100}`,
        tariffId: i % 2 === 0 ? 'residential-tou' : 'flat',
        reportIntervalS: intervalMs / 1000,
        signedTelemetry: false,
        rollbackWindowS: 600,
        fallbackDelayS: 3600,
        devicePublicKeyJwk: jwk,
        status: 'active',
        profiles: [{ iccid: iccid(i, 1), carrierId: 'bench-a', state: 'enabled', fallback: false }],
        revision: 1,
      };
      return { key: value.meterId, value };
    });
    await produceAll(producer, TOPICS.meterConnectivity.name, meters, (i) => {
      const value: MeterConnectivityRecord = {
        eventId: stableEventId('bench-billing', 'connectivity', meterId(i)),
        type: 'meter.connectivity',
        at: new Date(start).toISOString(),
        meterId: meterId(i),
        receivedAt: new Date(start + 1000).toISOString(),
        seq: 1,
        kind: 'electricity',
        iccid: iccid(i, 1),
        carrierId: 'bench-a',
        plmn: '23415',
        rat: 'ltem',
        cellId: 'c1',
        rsrp: -90,
        rsrq: -10,
        sinr: 10,
        attachFailures: 0,
        bytesUp: 1200,
        bytesDown: 800,
      };
      return { key: value.meterId, value };
    });
    log(
      `producing ${readings} readings (${meters} meters × ${perMeter}) to ${TOPICS.meterReadings.name}`,
    );
    // Interval by interval across the fleet, as a fleet reports.
    await produceAll(producer, TOPICS.meterReadings.name, readings, (n) => {
      const i = n % meters;
      const slot = Math.floor(n / meters);
      const at = start + slot * intervalMs;
      const value: MeterReadingRecord = {
        eventId: stableEventId('bench-billing', 'reading', meterId(i), slot),
        type: 'meter.reading',
        at: new Date(at).toISOString(),
        meterId: meterId(i),
        kind: 'electricity',
        register: 'energy_import_wh',
        // Cumulative: a base load per meter and 40 Wh more per interval from 17:00 to 20:00.
        value:
          1_000_000 +
          slot * (50 + (i % 7) * 10) +
          40 * (Math.floor(slot / 96) * 12 + Math.min(12, Math.max(0, (slot % 96) - 68))),
        seq: slot + 1,
        receivedAt: new Date(at + 2_000).toISOString(),
        sentAt: new Date(at + 1_000).toISOString(),
      };
      return { key: value.meterId, value };
    });
  }
  await producer.disconnect();
  const produceS = (Date.now() - producedAt) / 1000;
  log(`produced in ${round(produceS, 1)} s (${round(readings / produceS)} readings/s)`);

  // 2. Billing on the backlog.
  const profileDir = join(values.out, 'profile');
  mkdirSync(profileDir, { recursive: true });
  // After --replay the group's committed offsets may not show the move yet: count the topic.
  const backlog = values.replay
    ? (await admin.fetchTopicOffsets(TOPICS.meterReadings.name)).reduce(
        (sum, p) => sum + Number(BigInt(p.high) - BigInt(p.low)),
        0,
      )
    : await committedBehind(admin, TOPICS.meterReadings.name);
  log(`billing starts on a backlog of ${backlog} readings`);
  const load1 = round(loadavg()[0]!, 2);
  const t0 = Date.now();
  const cpu0 = { pg: await postgresSeconds(pool), machine: machineBusySeconds() };
  const nodeArgs = [
    ...(values.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
    ...(values['semi-space'] ? [`--max-semi-space-size=${values['semi-space']}`] : []),
  ];
  const replicas = await Promise.all(
    Array.from({ length: Number(values.replicas) }, (_, k) =>
      startBilling(
        Number(values.port) + k,
        { KAFKA_BROKERS: brokers, DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn' },
        join(values.out, `billing-${k}.log`),
        nodeArgs,
      ),
    ),
  );
  let ingestedS = 0;
  let lastBehind = -1;
  for (;;) {
    const behind = await committedBehind(admin, TOPICS.meterReadings.name);
    if (behind !== lastBehind) {
      log(
        `  ${readings - behind} readings in the ledger (${round((readings - behind) / ((Date.now() - t0) / 1000))}/s)`,
      );
      lastBehind = behind;
    }
    if (behind <= 0) break;
    await sleep(1_000);
  }
  ingestedS = (Date.now() - t0) / 1000;
  log(`all readings in the ledger after ${round(ingestedS, 1)} s`);
  for (;;) {
    const { rows } = await pool.query<{ dirty: number; outbox: number }>(
      `SELECT (SELECT count(*) FROM billing.dirty_periods WHERE meter_id LIKE 'BB-%')::int AS dirty,
              (SELECT count(*) FROM billing.outbox)::int AS outbox`,
    );
    if (rows[0]!.dirty === 0 && rows[0]!.outbox === 0) break;
    await sleep(250);
  }
  const ratedS = (Date.now() - t0) / 1000;
  const cpu = {
    billing: replicas.reduce((sum, r) => sum + processSeconds(r.pid), 0),
    postgres: (await postgresSeconds(pool)) - cpu0.pg,
    machine: machineBusySeconds() - cpu0.machine,
  };
  const { rows: lines } = await pool.query<{ n: number; total: string; meters: number }>(
    `SELECT count(*)::int AS n, sum(amount_minor)::text AS total, count(DISTINCT meter_id)::int AS meters
     FROM billing.charges WHERE meter_id LIKE $1 AND service_period = $2`,
    [`BB-${tag}-%`, month],
  );
  const { rows: ratings } = await pool.query<{ n: number }>(
    `SELECT coalesce(sum(ratings), 0)::int AS n FROM billing.rated_periods WHERE meter_id LIKE $1`,
    [`BB-${tag}-%`],
  );
  await Promise.all(
    replicas.map((r) => {
      r.kill('SIGTERM');
      return new Promise((resolve) => r.once('exit', resolve));
    }),
  );
  const report = {
    date: new Date().toISOString(),
    machine: {
      cores: cpus().length,
      cpu: cpus()[0]?.model.trim(),
      memoryGiB: round(totalmem() / 2 ** 30, 1),
      loadAverage1mAtStart: load1,
      node: process.version,
    },
    input: {
      meters,
      readingsPerMeter: perMeter,
      readings,
      month,
      produceSeconds: round(produceS, 1),
    },
    ingest: {
      backlog,
      seconds: round(ingestedS, 1),
      readingsPerSecond: round(backlog / ingestedS),
    },
    rated: {
      seconds: round(ratedS, 1),
      readingsPerSecond: round(backlog / ratedS),
      meterMonthsRated: ratings[0]!.n,
      chargeLines: lines[0]!.n,
      meters: lines[0]!.meters,
      totalMinor: Number(lines[0]!.total ?? 0),
    },
    cpuSeconds: {
      billing: round(cpu.billing, 1),
      postgres: round(cpu.postgres, 1),
      machineBusy: round(cpu.machine, 1),
      otherOnTheBox: round(cpu.machine - cpu.billing - cpu.postgres, 1),
    },
    billingReplicas: replicas.length,
    billingNodeArgs: values['semi-space'] ? [`--max-semi-space-size=${values['semi-space']}`] : [],
    profile: values.profile ? topSelfTime(profileDir) : undefined,
  };
  writeFileSync(join(values.out, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  log(
    `${backlog} readings: ledger at ${report.ingest.readingsPerSecond}/s, rated at ${report.rated.readingsPerSecond}/s (target 100000/s)`,
  );
  await admin.disconnect();
  await pool.end();
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:billing: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
