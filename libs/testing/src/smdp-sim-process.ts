import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  SMDP_SIM_PATHS,
  smdpBaseUrl,
  type SmdpSimConfig,
  type SmdpSimStats,
} from '@meterlink/contracts';
import { eventually } from './eventually';
import { REPO_ROOT } from './infrastructure';

/**
 * The simulated carrier SM-DP+ (tools/smdp-sim) as its own process from dist/, for integration
 * and e2e tests: every carrier at `<url>/<carrierId>`, with its failure knobs and counters.
 */
export class SmdpSimProcess {
  private child: ChildProcess | undefined;
  private exit: Promise<number | null> | undefined;
  readonly logFile: string;

  constructor(
    readonly port: number,
    private readonly env: Record<string, string> = {},
    logTag = 'test',
  ) {
    const dir = join(REPO_ROOT, 'tmp', 'test-logs');
    mkdirSync(dir, { recursive: true });
    this.logFile = join(dir, `${logTag}-smdp-sim.log`);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** For `SMDP_URL_TEMPLATE` of the orchestrator and the meter simulator. */
  get urlTemplate(): string {
    return `${this.url}/{carrierId}`;
  }

  baseUrl(carrierId: string): string {
    return smdpBaseUrl(this.urlTemplate, carrierId);
  }

  async start(readyTimeoutMs = 20_000): Promise<void> {
    const taken = await fetch(`${this.url}/health`).then(
      () => true,
      () => false,
    );
    if (taken) throw new Error(`smdp-sim: port ${this.port} is already in use`);
    const entry = join(REPO_ROOT, 'dist', 'tools', 'smdp-sim', 'src', 'main.js');
    const log = createWriteStream(this.logFile, { flags: 'a' });
    const child = spawn(process.execPath, ['--enable-source-maps', entry], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...this.env, SMDP_SIM_PORT: String(this.port), TZ: 'UTC' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.pipe(log);
    child.stderr.pipe(log);
    this.child = child;
    this.exit = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    let exited: number | null | undefined;
    void this.exit.then((code) => (exited = code));
    await eventually(
      async () => {
        if (exited !== undefined)
          throw new Error(`smdp-sim exited with ${exited}; see ${this.logFile}`);
        const res = await fetch(`${this.url}/health`).catch(() => undefined);
        return res?.status === 200;
      },
      { timeoutMs: readyTimeoutMs, intervalMs: 100, what: 'smdp-sim to be ready' },
    );
  }

  async configure(carrierId: string, config: SmdpSimConfig): Promise<SmdpSimConfig> {
    const res = await fetch(`${this.baseUrl(carrierId)}${SMDP_SIM_PATHS.config}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(config),
    });
    if (!res.ok) throw new Error(`smdp-sim config ${carrierId} → ${res.status}`);
    return (await res.json()) as SmdpSimConfig;
  }

  async stats(carrierId: string): Promise<SmdpSimStats> {
    const res = await fetch(`${this.baseUrl(carrierId)}${SMDP_SIM_PATHS.stats}`);
    if (!res.ok) throw new Error(`smdp-sim stats ${carrierId} → ${res.status}`);
    return (await res.json()) as SmdpSimStats;
  }

  async allStats(): Promise<{ carriers: SmdpSimStats[]; total: SmdpSimStats }> {
    const res = await fetch(`${this.url}${SMDP_SIM_PATHS.stats}`);
    if (!res.ok) throw new Error(`smdp-sim stats → ${res.status}`);
    return (await res.json()) as { carriers: SmdpSimStats[]; total: SmdpSimStats };
  }

  /** SIGTERM and wait; resolves with the exit code (SIGKILL after the deadline). */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<number | null> {
    if (!this.child || !this.exit) return null;
    if (this.child.exitCode !== null) return this.child.exitCode;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), timeoutMs);
    const code = await this.exit;
    clearTimeout(timer);
    return code;
  }
}
