import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { stackVariables } from '@meterlink/testing';
import { BenchBroker } from './broker';
import { callRegistry, metricByLabel } from './http';
import { BENCH_IMPORT_CATALOGUE, BenchManifest } from './manifest';
import { parseOptions, USAGE, UsageError, type ImportBenchOptions } from './options';
import { probeMeter, timeUntilAccepted, type ProbeResult } from './probe';
import { topSelfTime } from './profile';
import { memoryOf, RegistryProcess } from './registry-process';

const REPO_ROOT = join(__dirname, '..', '..', '..', '..', '..');
const INFRA = [
  'KAFKA_BROKERS',
  'DATABASE_URL',
  'MQTT_URL',
  'MQTT_ADMIN_USERNAME',
  'MQTT_ADMIN_PASSWORD',
] as const;
type Infra = Record<(typeof INFRA)[number], string>;

const log = (line: string): void => {
  process.stderr.write(`[bench:import] ${line}\n`);
};

/** The infrastructure from the environment, else from `stack.sh env` (METERLINK_STACK_DIR). */
const infrastructure = (): Infra => stackVariables(INFRA);

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of stat(5), in clock ticks (100 per second on Linux).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

interface ImportReport {
  importId: string;
  lines: number;
  imported: number;
  unchanged: number;
  rejected: number;
  errors: { line: number; reason: string }[];
}

interface ImportRun {
  seconds: number;
  metersPerSecond: number;
  registryCpuSeconds: number;
  report: ImportReport;
  /** Seconds the registry spent per import stage (summed over batches, from /metrics). */
  stageSeconds: Record<string, number>;
}

const round = (n: number, digits = 2): number => Math.round(n * 10 ** digits) / 10 ** digits;

async function stageSeconds(baseUrl: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  return metricByLabel(text, 'registry_import_stage_seconds_sum', 'stage');
}

async function runCli(
  registry: RegistryProcess,
  token: string,
  file: string,
  logFile: string,
): Promise<ImportReport> {
  const child = spawn(
    process.execPath,
    [
      join(REPO_ROOT, 'dist', 'apps', 'registry', 'src', 'cli.js'),
      'import-manifest',
      file,
      '--url',
      registry.baseUrl,
    ],
    { env: { ...process.env, REGISTRY_TOKEN: token }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.pipe(createWriteStream(logFile, { flags: 'a' }));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  if (code !== 0 && code !== 2) throw new Error(`registry-cli exited with ${code}; see ${logFile}`);
  return JSON.parse(stdout) as ImportReport;
}

async function importOnce(
  options: ImportBenchOptions,
  registry: RegistryProcess,
  token: string,
  manifest: BenchManifest,
  runDir: string,
): Promise<ImportRun> {
  let file: string | undefined;
  if (options.via === 'cli') {
    file = join(runDir, 'manifest.ndjson');
    log(`writing ${options.meters} lines to ${file} (not timed)`);
    await pipeline(manifest.stream(), createWriteStream(file));
  }
  const before = await stageSeconds(registry.baseUrl);
  const cpuBefore = await cpuSeconds(registry.pid);
  const started = process.hrtime.bigint();
  const report =
    options.via === 'cli'
      ? await runCli(registry, token, file!, join(runDir, 'cli.log'))
      : ((await callRegistry(registry.baseUrl, token, 'POST', '/v1/imports/manifest', {
          contentType: 'application/x-ndjson',
          data: manifest.stream(),
        })) as ImportReport);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const after = await stageSeconds(registry.baseUrl);
  return {
    seconds: round(seconds),
    metersPerSecond: Math.round(options.meters / seconds),
    registryCpuSeconds: round((await cpuSeconds(registry.pid)) - cpuBefore),
    report: { ...report, errors: report.errors.slice(0, 5) },
    stageSeconds: Object.fromEntries(
      [...after].map(([stage, s]) => [stage, round(s - (before.get(stage) ?? 0))]),
    ),
  };
}

async function main(): Promise<void> {
  let options: ImportBenchOptions | 'help';
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    if (error instanceof UsageError || error instanceof TypeError) {
      process.stderr.write(`${error.message}\n\n${USAGE}`);
      process.exit(64);
    }
    throw error;
  }
  if (options === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  const infra = infrastructure();
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const runDir = join(REPO_ROOT, 'tmp', 'bench-import', stamp);
  mkdirSync(runDir, { recursive: true });
  const token = randomBytes(24).toString('hex');
  const manifest = new BenchManifest(options.meters);

  let broker: BenchBroker | undefined;
  const cleanup: (() => Promise<unknown>)[] = [];
  const onSignal = (): void => {
    void Promise.all(cleanup.map((c) => c().catch(() => undefined))).then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    let mqttUrl = infra.MQTT_URL;
    let brokerEnv: Record<string, string> = { BROKER_CREDENTIALS: 'dynsec' };
    if (options.broker === 'stack') {
      const stack = stackVariables([
        'BROKER_CREDENTIALS',
        'MQTT_PASSWORD_FILE',
        'MQTT_BROKER_PID_FILE',
        'MQTT_METER_URL',
        'DATABASE_OWNER_URL',
      ]);
      if (stack.BROKER_CREDENTIALS !== 'password-file')
        throw new Error(
          `the stack's broker has no password file (stack.sh env: BROKER_CREDENTIALS=${stack.BROKER_CREDENTIALS}); restart it: stack.sh stop mosquitto && stack.sh up`,
        );
      mqttUrl = stack.MQTT_METER_URL;
      brokerEnv = {
        BROKER_CREDENTIALS: 'password-file',
        MQTT_PASSWORD_FILE: stack.MQTT_PASSWORD_FILE,
        MQTT_BROKER_PID_FILE: stack.MQTT_BROKER_PID_FILE,
        DATABASE_OWNER_URL: stack.DATABASE_OWNER_URL,
      };
      log(`the stack's broker: password file ${stack.MQTT_PASSWORD_FILE}, meters on ${mqttUrl}`);
    } else if (options.broker === 'password-file') {
      broker = new BenchBroker(join(runDir, 'broker'));
      await broker.start();
      cleanup.push(() => broker!.stop());
      mqttUrl = broker.url;
      brokerEnv = {
        BROKER_CREDENTIALS: 'password-file',
        MQTT_URL: broker.url,
        MQTT_ADMIN_USERNAME: broker.adminUsername,
        MQTT_ADMIN_PASSWORD: broker.adminPassword,
        MQTT_PASSWORD_FILE: broker.passwordFile,
        MQTT_BROKER_PID_FILE: broker.pidFile,
      };
      log(`own broker on ${broker.url} (password_file + acl_file patterns)`);
    }
    const registry = new RegistryProcess(
      REPO_ROOT,
      options.port,
      {
        ...infra,
        ...brokerEnv,
        REGISTRY_API_TOKENS: `${token}:admin`,
        LOG_LEVEL: 'info',
        ...(options.batchSize ? { IMPORT_BATCH_SIZE: String(options.batchSize) } : {}),
        ...options.registryEnv,
      },
      join(runDir, 'registry.log'),
      options.profile ? ['--cpu-prof', `--cpu-prof-dir=${join(runDir, 'profile')}`] : [],
    );
    await registry.start();
    cleanup.unshift(() => registry.stop());
    await callRegistry(registry.baseUrl, token, 'PUT', '/v1/catalogue', {
      contentType: 'application/json',
      data: JSON.stringify(BENCH_IMPORT_CATALOGUE),
    });

    log(`importing ${options.meters} meters via ${options.via}, broker ${options.broker}`);
    const first = await importOnce(options, registry, token, manifest, runDir);
    log(
      `first import: ${first.seconds} s, ${first.metersPerSecond} meters/s, ` +
        `imported ${first.report.imported}, rejected ${first.report.rejected}`,
    );
    const last = options.meters - 1;
    const brokerAcceptsLastMs = await timeUntilAccepted(
      mqttUrl,
      manifest.meterId(last),
      manifest.password(last),
      300_000,
    );
    const probes: ProbeResult[] = [];
    const picks = [...new Set([0, Math.floor(options.meters / 2), last])].slice(0, options.probes);
    for (const i of picks)
      probes.push(
        await probeMeter(
          mqttUrl,
          manifest.meterId(i),
          manifest.password(i),
          manifest.meterId(i === 0 ? last : 0),
        ),
      );
    const again = options.again
      ? await importOnce(options, registry, token, manifest, runDir)
      : undefined;
    if (again) log(`second import: ${again.seconds} s, unchanged ${again.report.unchanged}`);
    const memory = await memoryOf(registry.pid);
    // The profile is written when the registry exits.
    const profile = options.profile
      ? (await registry.stop(), topSelfTime(join(runDir, 'profile')))
      : [];

    const result = {
      when: new Date().toISOString(),
      commit: execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
        cwd: REPO_ROOT,
        encoding: 'utf8',
      }).trim(),
      machine: {
        cores: cpus().length,
        cpu: cpus()[0]?.model.trim(),
        memoryGiB: round(totalmem() / 2 ** 30, 1),
        loadAverage1mAtEnd: round(loadavg()[0]!),
        node: process.version,
      },
      options: { ...options, registryEnv: undefined },
      first,
      again,
      brokerAcceptsLastMeterAfterResponseMs: brokerAcceptsLastMs,
      registryPeakRssMiB: round(memory.peakMiB, 0),
      registryRssAtEndMiB: round(memory.currentMiB, 0),
      probes,
      profile,
      runDir,
    };
    const out = options.out ?? join(runDir, 'report.json');
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    const stages = Object.entries(first.stageSeconds)
      .map(([stage, s]) => `${stage} ${s} s`)
      .join(', ');
    process.stdout.write(
      [
        `meters                      ${options.meters} (via ${options.via}, broker ${options.broker})`,
        `wall time                   ${first.seconds} s`,
        `throughput                  ${first.metersPerSecond} meters/s`,
        `imported/unchanged/rejected ${first.report.imported}/${first.report.unchanged}/${first.report.rejected}`,
        `registry CPU                ${first.registryCpuSeconds} s`,
        `registry stage time         ${stages || 'n/a'}`,
        `broker provisioning         ${first.stageSeconds.broker ?? 'n/a'} s in the registry; last meter accepted ${brokerAcceptsLastMs} ms after the response`,
        `registry peak RSS           ${result.registryPeakRssMiB} MiB`,
        ...(again
          ? [`re-import (idempotent)      ${again.seconds} s, ${again.report.unchanged} unchanged`]
          : []),
        `probes                      ${probes
          .map(
            (p) =>
              `${p.meterId}: ${p.connected && p.ownTopicAccepted && p.otherTopicRefused ? 'ok' : JSON.stringify(p)}`,
          )
          .join('; ')}`,
        `machine                     ${result.machine.cores} cores, load ${result.machine.loadAverage1mAtEnd} at the end`,
        ...(profile.length > 0
          ? [
              'registry CPU profile (self time):',
              ...profile.map((p) => `  ${String(p.ms).padStart(7)} ms  ${p.fn}`),
            ]
          : []),
        `report                      ${out}`,
        '',
      ].join('\n'),
    );
    if (probes.some((p) => !(p.connected && p.ownTopicAccepted && p.otherTopicRefused)))
      process.exitCode = 1;
  } finally {
    for (const step of cleanup) await step().catch(() => undefined);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(
    `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
