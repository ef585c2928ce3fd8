import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { TOPICS } from '@meterlink/contracts';
import { privateKeyFromJwk } from '@meterlink/jws';
import {
  BASELINE_TOPIC,
  BaselineBridge,
  baselineTopic,
  meterIdOfBaselineTopic,
} from './baseline-bridge';
import { provisionBenchClient } from './broker-credential';
import { BENCH_CATALOGUE, benchManifest, benchMeterIndex, benchMeters } from './fleet';
import { BenchKafka } from './kafka';
import { machineInfo, stackVersions } from './machine';
import { parseOptions, USAGE, UsageError, type BenchOptions } from './options';
import { signedTelemetryJson, telemetryJson } from './payload';
import { runPhase, type PhaseContext, type PhaseReport } from './phase';
import { summariseProfile, type ProfileSummary } from './profile';
import { importFleet, type FleetImportResult } from './registry-client';
import { evaluateTargets, fmt, formatReport, saturated, type BenchReport } from './report';
import { freshSeqBase } from './schedule';
import { ServiceProcess } from './services';
import { BENCH_STACK_PORTS, BenchStack } from './stack';
import { loadavg } from 'node:os';

const REGISTRY_PORT = 4501;
const INGESTION_PORT = 4502;

const log = (line: string): void => {
  process.stderr.write(`[bench] ${line}\n`);
};

/** What the run started, stopped in reverse order however the run ends (also on Ctrl-C). */
class Cleanup {
  private readonly steps: { name: string; run: () => Promise<unknown> }[] = [];
  private running: Promise<void> | undefined;

  add(name: string, run: () => Promise<unknown>): void {
    this.steps.push({ name, run });
  }

  run(): Promise<void> {
    this.running ??= (async () => {
      for (const step of this.steps.reverse()) {
        try {
          await step.run();
        } catch (error) {
          log(
            `cleanup: ${step.name} failed: ${error instanceof Error ? error.message : String(error)}`,
          );
        }
      }
    })();
    return this.running;
  }
}

function hasCommand(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** kcat and mosquitto_sub are the baseline bridge; as root they are installed when missing. */
function ensureBaselineTools(): void {
  const missing = [
    ['kcat', 'kcat'],
    ['mosquitto_sub', 'mosquitto-clients'],
  ].filter(([command]) => !hasCommand(command!));
  if (missing.length === 0) return;
  const packages = missing.map(([, pkg]) => pkg!);
  if (process.getuid?.() !== 0)
    throw new Error(`the baseline bridge needs: sudo apt-get install -y ${packages.join(' ')}`);
  log(`apt-get install -y ${packages.join(' ')}`);
  execFileSync('apt-get', ['install', '-y', '-qq', ...packages], {
    stdio: ['ignore', 2, 2],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
}

function findRepoRoot(): string {
  // dist/tools/bench/src/main.js (built) or tools/bench/src/main.ts (swc-node): both four up.
  const root = resolve(__dirname, '..', '..', '..', '..');
  const alt = resolve(__dirname, '..', '..', '..');
  if (existsSync(join(root, 'tools', 'stack', 'stack.sh'))) return root;
  if (existsSync(join(alt, 'tools', 'stack', 'stack.sh'))) return alt;
  throw new Error(`cannot find the repository root above ${__dirname}`);
}

function warningsFor(phases: PhaseReport[], options: BenchOptions, cores: number): string[] {
  const warnings: string[] = [];
  for (const p of phases) {
    const g = p.generator;
    if (g.achievedRatePerS < 0.98 * p.offeredRatePerS || g.lagMs.p99 > 5)
      warnings.push(
        `${p.label}: the generator ran behind its schedule (lag p99 ${g.lagMs.p99.toFixed(1)} ms, max ${g.lagMs.max.toFixed(1)} ms; ${fmt(g.achievedRatePerS)} of ${fmt(p.offeredRatePerS)} msg/s sent): its lag is part of the latency, and if it cannot send the offered rate it is the limit`,
      );
    const refused = Object.values(g.refused).reduce((a, b) => a + b, 0);
    if (refused > 0 || g.unacknowledged > 0 || g.errors.length > 0)
      warnings.push(
        `${p.label}: the broker refused ${fmt(refused)} and did not acknowledge ${fmt(g.unacknowledged)} messages ${g.errors.join('; ')}`,
      );
    const other = p.cpuCores.other ?? 0;
    if (other > 0.1 * cores)
      warnings.push(
        `${p.label}: other processes used ${other.toFixed(2)} of ${cores} cores during the phase: not a quiet machine`,
      );
    if (p.drain?.stillArriving && p.delivery && p.delivery.lost > 0)
      warnings.push(
        `${p.label}: records were still arriving when the drain gave up (--drain-max-s ${options.drainMaxS}): "lost" includes messages that were only late`,
      );
    else if (p.drain && !p.drain.complete && p.delivery && p.delivery.lost > 0)
      warnings.push(
        `${p.label}: Kafka got nothing new for ${options.drainIdleS} s before every message arrived (--drain-idle-s)`,
      );
    if (p.saturating && p.delivery && !saturated(p))
      warnings.push(
        `${p.label}: kept up with the ${fmt(p.offeredRatePerS)} msg/s offered, so its maximum is higher than measured: offer more (${p.kind === 'baseline' ? '--baseline-rate' : '--offered-rate'})`,
      );
  }
  return warnings;
}

async function main(): Promise<void> {
  const parsed = parseOptions(process.argv.slice(2));
  if (parsed === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  const options = parsed;
  const repoRoot = findRepoRoot();
  const startedAt = new Date().toISOString();
  const outputDir = join(repoRoot, 'tmp', 'bench', startedAt.replace(/[:.]/g, '-'));
  mkdirSync(outputDir, { recursive: true });
  const cleanup = new Cleanup();
  const onSignal = (signal: NodeJS.Signals): void => {
    log(`${signal}: stopping what the run started`);
    void cleanup.run().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const runsBaseline = options.mode === 'both' || options.mode === 'baseline-only';
  const runsIngestion = options.mode === 'both' || options.mode === 'ingestion-only';
  try {
    if (runsBaseline) ensureBaselineTools();
    const machine = machineInfo();
    const versions = stackVersions(repoRoot);
    const stack = new BenchStack(repoRoot);
    log(`bench stack in ${relative(repoRoot, stack.dir)}: up`);
    const upStarted = Date.now();
    await stack.up();
    const upSeconds = (Date.now() - upStarted) / 1000;
    cleanup.add('bench stack', async () => {
      if (options.keepStack) log('bench stack left running (--keep-stack)');
      else await stack.down();
    });
    const infra = await stack.env();
    const mqttUrl = new URL(infra.MQTT_URL);
    const credential = await provisionBenchClient({
      mqttUrl: infra.MQTT_URL,
      adminUsername: infra.MQTT_ADMIN_USERNAME,
      adminPassword: infra.MQTT_ADMIN_PASSWORD,
    });
    const kafka = new BenchKafka(infra.KAFKA_BROKERS.split(','));
    await kafka.connect();
    cleanup.add('kafka admin', () => kafka.close());

    const meters = benchMeters(options.meters, options.signed);
    let fleetImport: FleetImportResult | undefined;
    let signingKeys: PhaseContext['signingKeys'];
    const measuredTopics: string[] = [];
    if (runsIngestion) {
      const manifest = benchManifest(
        options.meters,
        options.signed,
        join(stack.dir, 'bench', 'signed-keys.json'),
      );
      if (manifest.signedKeys) {
        const keys = manifest.signedKeys;
        signingKeys = meters.map((m) => privateKeyFromJwk(keys[m.meterId]!));
      }
      const token = randomBytes(24).toString('hex');
      const registry = new ServiceProcess(
        'registry',
        repoRoot,
        REGISTRY_PORT,
        { ...infra, LOG_LEVEL: 'info', REGISTRY_API_TOKENS: `${token}:admin` },
        join(outputDir, 'registry.log'),
      );
      log('registry: start');
      cleanup.add('registry', () => registry.stop());
      await registry.start();
      log(`registry: importing ${fmt(options.meters)} bench meters`);
      fleetImport = await importFleet({
        baseUrl: registry.baseUrl,
        token,
        catalogue: BENCH_CATALOGUE,
        lines: manifest.lines,
        chunkSize: options.importChunk,
        onProgress: (done, total, seconds) =>
          log(`  ${fmt(done)} / ${fmt(total)} meters after ${seconds.toFixed(1)} s`),
        onRetry: (reason) => log(`  import chunk failed (${reason}); importing it again`),
      });
      // Nothing needs the registry during the load; stopped, it takes no CPU from the run.
      await registry.stop();
      measuredTopics.push(TOPICS.meterReadings.name);
    }
    if (runsBaseline) measuredTopics.push(BASELINE_TOPIC);
    const kafkaTimestamps =
      measuredTopics.length > 0
        ? await kafka.useLogAppendTime(measuredTopics, TOPICS.meterReadings.partitions)
        : {};
    for (const [topic, type] of Object.entries(kafkaTimestamps)) {
      if (type !== 'LogAppendTime') throw new Error(`${topic} still has ${type} timestamps`);
    }

    const infraPids = {
      kafka: stack.pid('kafka'),
      mosquitto: stack.pid('mosquitto'),
      redis: stack.pid('redis'),
      generator: process.pid,
    };
    let extraPids: Record<string, number | undefined> = {};
    const ctx: PhaseContext = {
      kafka,
      meters,
      signingKeys,
      publisher: options.publisher,
      connections: options.connections,
      mqtt: {
        host: mqttUrl.hostname,
        port: Number(mqttUrl.port),
        username: credential.username,
        password: credential.password,
      },
      cpuPids: () => ({ ...infraPids, ...extraPids }),
      drainIdleS: options.drainIdleS,
      drainMaxS: options.drainMaxS,
      log,
    };
    const phases: PhaseReport[] = [];

    if (options.mode === 'generator-only') {
      phases.push(
        await runPhase(ctx, {
          kind: 'generator',
          label: 'generator only (bench/void, no subscriber)',
          ratePerS: options.offeredRate,
          saturating: true,
          durationS: options.durationS,
          warmupS: options.warmupS,
          topicOf: (m) => `bench/void/${m.meterId}/up/telemetry`,
        }),
      );
    }

    if (runsBaseline) {
      const bridge = BaselineBridge.start({
        host: mqttUrl.hostname,
        port: Number(mqttUrl.port),
        username: credential.username,
        password: credential.password,
        brokers: infra.KAFKA_BROKERS,
        configDir: join(stack.dir, 'bench', 'mqtt-client'),
        logFile: join(outputDir, 'baseline-bridge.log'),
      });
      cleanup.add('baseline bridge', () => bridge.stop());
      extraPids = { mosquitto_sub: bridge.pids.mosquittoSub, kcat: bridge.pids.kcat };
      phases.push(
        await runPhase(
          ctx,
          {
            kind: 'baseline',
            label: 'baseline bridge (mosquitto_sub | kcat)',
            ratePerS: options.baselineRate,
            saturating: true,
            durationS: options.baselineDurationS,
            warmupS: options.warmupS,
            topicOf: (m) => baselineTopic(m.meterId),
            measured: {
              topic: BASELINE_TOPIC,
              meterOfKey: (key) =>
                benchMeterIndex(
                  meterIdOfBaselineTopic(key.toString('latin1')) ?? '',
                  options.signed,
                ),
              alsoCount: [],
              pushTailTo: 'bench/tail',
            },
          },
          // Stopping mosquitto_sub makes kcat flush and exit: what it held is in Kafka now.
          () => bridge.stop(),
        ),
      );
      extraPids = {};
    }

    let profile: ProfileSummary | undefined;
    const warnings: string[] = [];
    if (runsIngestion) {
      const profileDir = join(outputDir, 'cpu-profile');
      const ingestion = new ServiceProcess(
        'ingestion',
        repoRoot,
        INGESTION_PORT,
        { ...infra, LOG_LEVEL: 'info', INGESTION_REPLICA_ID: 'bench', ...options.ingestionEnv },
        join(outputDir, 'ingestion.log'),
        options.profile ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [],
      );
      log('ingestion: start');
      cleanup.add('ingestion', () => ingestion.stop());
      await ingestion.start();
      extraPids = { ingestion: ingestion.pid };
      for (const step of options.rates) {
        const max = step === 'max';
        const rate = max ? options.offeredRate : step;
        phases.push(
          await runPhase(ctx, {
            kind: 'ingestion',
            label: max
              ? `ingestion @ max (offered ${fmt(rate)} msg/s)`
              : `ingestion @ ${fmt(rate)} msg/s`,
            ratePerS: rate,
            saturating: max,
            durationS: options.durationS,
            warmupS: options.warmupS,
            topicOf: (m) => `mtr/v1/${m.meterId}/up/telemetry`,
            measured: {
              topic: TOPICS.meterReadings.name,
              meterOfKey: (key) => benchMeterIndex(key.toString('latin1'), options.signed),
              alsoCount: [TOPICS.meterConnectivity.name, TOPICS.ingestRejected.name],
            },
          }),
        );
        if (!ingestion.running) {
          warnings.push(
            `ingestion exited during "${phases[phases.length - 1]!.label}"; see ${ingestion.logFile}`,
          );
          break;
        }
      }
      const code = await ingestion.stop();
      if (code !== 0) warnings.push(`ingestion exited with ${code}; see ${ingestion.logFile}`);
      if (options.profile) profile = summariseProfile(profileDir);
    }

    const { targets, ratio } = evaluateTargets(phases);
    const report: BenchReport = {
      tool: 'meterlink bench:ingest',
      startedAt,
      finishedAt: new Date().toISOString(),
      command: `npm run bench:ingest -- ${process.argv.slice(2).join(' ')}`.trim(),
      machine,
      loadAverage1mAtEnd: Math.round(loadavg()[0]! * 100) / 100,
      versions,
      stack: { dir: stack.dir, ports: { ...BENCH_STACK_PORTS }, upSeconds },
      options,
      fleet: {
        meters: options.meters,
        signed: options.signed,
        payloadBytes: (signingKeys
          ? signedTelemetryJson(meters[0]!, freshSeqBase(), Date.now(), signingKeys[0]!)
          : telemetryJson(meters[0]!, freshSeqBase(), Date.now())
        ).length,
        ...(fleetImport ? { import: fleetImport } : {}),
      },
      kafkaTimestamps,
      phases,
      ...(ratio ? { ratio } : {}),
      targets,
      ...(profile ? { profile } : {}),
      warnings: [
        ...(machine.loadAverage1m > 0.25 * machine.cores
          ? [
              `load average ${machine.loadAverage1m} on ${machine.cores} cores when the run started: not a quiet machine`,
            ]
          : []),
        ...warningsFor(phases, options, machine.cores),
        ...warnings,
      ],
      outputDir: relative(repoRoot, outputDir),
    };
    const file = options.out ? resolve(options.out) : join(outputDir, 'report.json');
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
    process.stdout.write(`\n${formatReport(report)}\nreport      ${relative(repoRoot, file)}\n`);
  } finally {
    await cleanup.run();
  }
}

main().catch((error: unknown) => {
  if (error instanceof UsageError) {
    process.stderr.write(`${error.message}\n\n${USAGE}`);
    process.exit(2);
  }
  process.stderr.write(
    `[bench] FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
