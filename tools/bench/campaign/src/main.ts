import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, createWriteStream, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { connect } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { TOPICS, type ProfileSwapRecord } from '@meterlink/contracts';
import { createKafka } from '@meterlink/kafka';
import {
  INFRA_VARIABLES,
  Platform,
  REPO_ROOT,
  SmdpSimProcess,
  TopicRecorder,
  dynsecAdmin,
  eventually,
  type InfraEnv,
} from '@meterlink/testing';
import { benchFleet } from './fleet-scenario';
import { parseOptions, USAGE, UsageError, type CampaignBenchOptions } from './options';
import { CampaignTimeline, percentile, swapsPerSecond, type CampaignSnapshot } from './timeline';

const log = (line: string): void => {
  process.stderr.write(`[bench:campaign] ${line}\n`);
};
const round = (n: number | undefined, digits = 1): number | undefined =>
  n === undefined ? undefined : Math.round(n * 10 ** digits) / 10 ** digits;

/** The infrastructure from the environment, else from `stack.sh env` (METERLINK_STACK_DIR). */
function infrastructure(): InfraEnv {
  const fromEnv = INFRA_VARIABLES.map((name) => process.env[name]);
  if (fromEnv.every(Boolean))
    return Object.fromEntries(INFRA_VARIABLES.map((name, i) => [name, fromEnv[i]!])) as InfraEnv;
  const text = execFileSync('bash', [join(REPO_ROOT, 'tools', 'stack', 'stack.sh'), 'env'], {
    encoding: 'utf8',
  });
  const found = Object.fromEntries(
    [...text.matchAll(/^export ([A-Z_]+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!]),
  );
  const missing = INFRA_VARIABLES.filter((name) => !found[name]);
  if (missing.length > 0)
    throw new Error(`no ${missing.join(', ')}: start the stack (npm run stack -- up) first`);
  return found as InfraEnv;
}

const GATEWAY_ROLE = 'bench-meter-gateway';

/**
 * The simulator's gateway identity: publish any meter's uplink, receive any meter's downlink.
 * No real client has such rights; it exists only so that 10,000 meters fit in a few connections.
 */
async function provisionGateway(infra: InfraEnv): Promise<{ username: string; password: string }> {
  const username = `bench-gateway-${process.pid}`;
  const password = randomBytes(24).toString('base64url');
  const acl = (acltype: string, topic: string) => ({ acltype, topic, priority: 0, allow: true });
  await dynsecAdmin(infra, [{ command: 'deleteRole', rolename: GATEWAY_ROLE }]);
  const responses = await dynsecAdmin(infra, [
    {
      command: 'createRole',
      rolename: GATEWAY_ROLE,
      acls: [
        acl('publishClientSend', 'mtr/v1/+/up/#'),
        acl('subscribePattern', 'mtr/v1/+/down/#'),
        acl('unsubscribePattern', 'mtr/v1/+/down/#'),
        acl('publishClientReceive', 'mtr/v1/+/down/#'),
      ],
    },
    { command: 'createClient', username, password, roles: [{ rolename: GATEWAY_ROLE }] },
  ]);
  const failed = responses.filter((r) => r.error);
  if (failed.length > 0) throw new Error(`gateway provisioning: ${JSON.stringify(failed)}`);
  return { username, password };
}

async function removeGateway(infra: InfraEnv, username: string): Promise<void> {
  await dynsecAdmin(infra, [{ command: 'deleteClient', username }]).catch(() => undefined);
}

/**
 * The registry provisions every imported meter's broker credential; with dynsec that costs the
 * broker quadratic time (21 minutes for 10,000 meters, see bench:import), and this benchmark's
 * meters do not use per-meter credentials (they share the gateway's). So the registry runs in
 * password-file mode against a throwaway broker that accepts its reload canary: its file is written
 * and never used.
 */
async function startCanaryBroker(runDir: string, port: number): Promise<ChildProcess> {
  const conf = join(runDir, 'canary-mosquitto.conf');
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
  const child = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
  await eventually(
    () => {
      if (child.exitCode !== null) throw new Error(`canary broker exited with ${child.exitCode}`);
      return new Promise<boolean>((resolve) => {
        const socket = connect(port, '127.0.0.1', () => {
          socket.end();
          resolve(true);
        });
        socket.on('error', () => resolve(false));
      });
    },
    { timeoutMs: 10_000, what: 'the canary broker' },
  );
  return child;
}

interface FleetSummary {
  metersTotal?: number;
  metersBooted?: number;
  metersConnected?: number;
  swapsCompleted?: number;
  rollbacks?: number;
  downloads?: number;
  packagesRejected?: number;
  messagesSent?: number;
}

/** The meter simulator as a child process; its pino lines give the latest fleet summary. */
class SimProcess {
  summary: FleetSummary = {};
  private readonly child: ChildProcess;
  private readonly exit: Promise<number | null>;

  constructor(args: string[], env: Record<string, string>, logFile: string) {
    const out = createWriteStream(logFile, { flags: 'a' });
    this.child = spawn(
      process.execPath,
      [join(REPO_ROOT, 'dist', 'tools', 'meter-sim', 'src', 'main.js'), ...args],
      { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child.stderr!.pipe(out);
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      out.write(`${line}\n`);
      if (!line.includes('"fleet summary"') && !line.includes('"fleet stopped"')) return;
      try {
        this.summary = JSON.parse(line) as FleetSummary;
      } catch {
        // not one of ours
      }
    });
    this.exit = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  get exited(): boolean {
    return this.child.exitCode !== null;
  }

  async stop(): Promise<number | null> {
    if (this.child.exitCode !== null) return this.child.exitCode;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 30_000);
    const code = await this.exit;
    clearTimeout(timer);
    return code;
  }

  done(): Promise<number | null> {
    return this.exit;
  }
}

/**
 * Runs a node script to completion, its output in a log file. A run that has not finished by the
 * deadline is killed and tried again: the fleet generator has been seen to stall (a futex wait in
 * its first second, not reproduced outside this harness) on this busy box.
 */
async function runNode(args: string[], logFile: string, deadlineMs: number): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const fd = openSync(logFile, 'a');
    const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    const timer = setTimeout(() => child.kill('SIGKILL'), deadlineMs);
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    clearTimeout(timer);
    if (code === 0) return;
    if (attempt >= 3) throw new Error(`${args.join(' ')} exited with ${code}; see ${logFile}`);
    log(`${args[1] ?? args[0]} did not finish (exit ${code}); attempt ${attempt + 1}`);
  }
}

async function main(): Promise<void> {
  let options: CampaignBenchOptions | 'help';
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
  const o = options;
  const infra = infrastructure();
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const runDir = join(REPO_ROOT, 'tmp', 'bench-campaign', stamp);
  mkdirSync(runDir, { recursive: true });
  const tag = randomBytes(3).toString('hex');
  const plan = benchFleet({
    tag,
    meters: o.meters,
    downloadShare: o.downloadShare,
    attachS: o.attachS,
  });
  const token = (): string => randomBytes(20).toString('hex');
  const tokens = { operator: token(), approver: token(), viewer: token() };
  const smdp = new SmdpSimProcess(o.basePort + 5, {}, `bench-campaign-${tag}`);
  const canaryPort = o.basePort + 6;
  const canary = await startCanaryBroker(runDir, canaryPort);
  const platform = new Platform({
    infra,
    basePort: o.basePort,
    logTag: `bench-campaign-${tag}`,
    extraEnv: {
      registry: {
        BROKER_CREDENTIALS: 'password-file',
        MQTT_PASSWORD_FILE: join(runDir, 'registry-passwords'),
        MQTT_URL: `mqtt://127.0.0.1:${canaryPort}`,
      },
      'profile-orchestrator': {
        ORCHESTRATOR_API_TOKENS: [
          `${tokens.operator}:operator`,
          `${tokens.approver}:admin`,
          `${tokens.viewer}:viewer`,
        ].join(','),
        SMDP_URL_TEMPLATE: smdp.urlTemplate,
        SMDP_ORDERS_PER_MIN: String(o.smdpPerMin),
        LOG_LEVEL: 'warn',
        ...o.orchestratorEnv,
      },
      ingestion: { LOG_LEVEL: 'warn' },
      'coverage-monitor': { LOG_LEVEL: 'warn' },
      billing: { LOG_LEVEL: 'warn' },
    },
  });
  const kafka = createKafka({
    brokers: infra.KAFKA_BROKERS.split(','),
    clientId: 'bench-campaign',
  });
  const recorder = new TopicRecorder(kafka, [TOPICS.profileSwaps.name]);
  let sim: SimProcess | undefined;
  let gateway: { username: string; password: string } | undefined;
  const cleanup = async (): Promise<void> => {
    await sim?.stop().catch(() => undefined);
    await recorder.stop().catch(() => undefined);
    await platform.stop().catch(() => undefined);
    await smdp.stop().catch(() => undefined);
    canary.kill('SIGTERM');
    if (gateway) await removeGateway(infra, gateway.username);
  };
  const onSignal = (): void => {
    void cleanup().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    log(
      `run ${tag}: ${o.meters} meters (${plan.needingDownload} need a download), logs in ${runDir}`,
    );
    await smdp.start();
    await platform.start();
    const orchestratorUrl = platform.service('profile-orchestrator').baseUrl;
    await smdp.configure(plan.toCarrierId, { capacityPerMin: o.smdpPerMin });

    // Fleet: generated by the simulator, imported into the registry (not timed).
    const scenarioFile = join(runDir, 'scenario.json');
    writeFileSync(scenarioFile, JSON.stringify(plan.scenario, null, 2));
    const stateDir = join(runDir, 'fleet');
    const simMain = join(REPO_ROOT, 'dist', 'tools', 'meter-sim', 'src', 'main.js');
    await runNode(
      [simMain, 'generate', '--scenario', scenarioFile, '--out', stateDir, '--tag', tag],
      join(runDir, 'sim-generate.log'),
      Math.max(30_000, o.meters * 10),
    );
    await platform.importCatalogue(join(stateDir, 'carriers.json'));
    let started = Date.now();
    const report = await platform.importManifest(join(stateDir, 'manifest.ndjson'));
    if (report.imported !== o.meters) throw new Error(`import: ${JSON.stringify(report)}`);
    log(`imported ${report.imported} meters in ${round((Date.now() - started) / 1000)} s`);

    gateway = await provisionGateway(infra);
    await recorder.start();
    sim = new SimProcess(
      [
        'run',
        '--scenario',
        scenarioFile,
        '--state',
        stateDir,
        '--mqtt-url',
        infra.MQTT_URL,
        '--eim-jwks',
        `${orchestratorUrl}/eim/jwks.json`,
        '--smdp-url-template',
        smdp.urlTemplate,
        '--gateway-connections',
        String(o.connections),
        '--duration-s',
        '0',
      ],
      {
        MQTT_GATEWAY_USERNAME: gateway.username,
        MQTT_GATEWAY_PASSWORD: gateway.password,
        // info: the benchmark reads the simulator's `fleet summary` lines.
        LOG_LEVEL: 'info',
      },
      join(runDir, 'sim.log'),
    );
    const simRef = sim;
    started = Date.now();
    await eventually(
      () => {
        if (simRef.exited) throw new Error('the meter simulator exited; see sim.log');
        return (simRef.summary.metersBooted ?? 0) >= o.meters;
      },
      {
        timeoutMs: 600_000,
        intervalMs: 1_000,
        what: 'every simulated meter to boot',
        detail: () => JSON.stringify(simRef.summary),
      },
    );
    log(`fleet online in ${round((Date.now() - started) / 1000)} s`);

    // The campaign: created by an operator, approved by another admin (it is large), timed from
    // the approval.
    const call = async <T>(method: string, path: string, as: string, body?: unknown) => {
      const res = await fetch(`${orchestratorUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${as}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`${method} ${path} → ${res.status}: ${text}`);
      return JSON.parse(text) as T;
    };
    const created = await call<{ campaignId: string; state: string; meterCount: number }>(
      'POST',
      '/v1/campaigns',
      tokens.operator,
      {
        name: `bench supplier change ${plan.region}`,
        reason: 'bench:campaign',
        selector: { region: plan.region, fromCarrierId: plan.fromCarrierId },
        targetCarrierId: plan.toCarrierId,
        waves: {
          canarySize: o.canarySize,
          growthFactor: o.growthFactor,
          maxWaveSize: o.maxWaveSize,
        },
      },
    );
    log(`campaign ${created.campaignId}: ${created.meterCount} meters, ${created.state}`);
    const startMs = Date.now();
    if (created.state === 'pending-approval')
      await call('POST', `/v1/campaigns/${created.campaignId}/approve`, tokens.approver, {});
    const timeline = new CampaignTimeline(startMs);
    const deadline = startMs + o.timeoutS * 1000;
    let lastLog = 0;
    for (;;) {
      const snapshot = await call<CampaignSnapshot & { totals: Record<string, number> }>(
        'GET',
        `/v1/campaigns/${created.campaignId}`,
        tokens.viewer,
      );
      const now = Date.now();
      timeline.observe(snapshot, now);
      if (now - lastLog > 10_000) {
        lastLog = now;
        log(
          `${round((now - startMs) / 1000)} s: ${snapshot.state} ${JSON.stringify(snapshot.totals)}`,
        );
      }
      if (timeline.isOver() || now > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }

    // `campaignId` is the orchestrator's extra field on swap records (issue 6, contract B).
    const records = recorder.on<ProfileSwapRecord & { campaignId?: string }>(
      TOPICS.profileSwaps.name,
      (r) => r.campaignId === created.campaignId,
    );
    const completedAt = records.filter((r) => r.state === 'completed').map((r) => Date.parse(r.at));
    const requestedAt = new Map<string, number>();
    for (const r of records)
      if (r.state === 'requested') requestedAt.set(r.swapId, Date.parse(r.at));
    const swapSeconds = records
      .filter((r) => r.state === 'completed' && requestedAt.has(r.swapId))
      .map((r) => (Date.parse(r.at) - requestedAt.get(r.swapId)!) / 1000);
    const smdpStats = await smdp.allStats();
    const final = await call<Record<string, unknown>>(
      'GET',
      `/v1/campaigns/${created.campaignId}`,
      tokens.viewer,
    );
    const result = {
      run: tag,
      date: new Date().toISOString(),
      machine: {
        cpus: cpus().length,
        memGiB: round(totalmem() / 2 ** 30),
        loadavg: loadavg().map((l) => round(l, 2)),
      },
      meters: o.meters,
      needingDownload: plan.needingDownload,
      connections: o.connections,
      waves: { canarySize: o.canarySize, growthFactor: o.growthFactor, maxWaveSize: o.maxWaveSize },
      state: timeline.state,
      durationS: round(timeline.durationS),
      swapsCompleted: completedAt.length,
      swapsPerSecond: round(swapsPerSecond(completedAt, startMs), 2),
      swapSeconds: {
        p50: round(percentile(swapSeconds, 50), 2),
        p90: round(percentile(swapSeconds, 90), 2),
        p99: round(percentile(swapSeconds, 99), 2),
        max: round(percentile(swapSeconds, 100), 2),
      },
      perWave: timeline.timings().map((w) => ({
        ...w,
        startedAtS: round(w.startedAtS),
        finishedAtS: round(w.finishedAtS),
        durationS:
          w.startedAtS !== undefined && w.finishedAtS !== undefined
            ? round(w.finishedAtS - w.startedAtS)
            : undefined,
      })),
      smdp: smdpStats.total,
      campaign: final,
      simulator: sim.summary,
    };
    const out = o.out ?? join(runDir, 'report.json');
    writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    log(`report: ${out}`);
  } finally {
    await cleanup();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    log(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  },
);
