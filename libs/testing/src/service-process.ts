import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { eventually } from './eventually';
import { REPO_ROOT } from './infrastructure';

export const SERVICES = [
  'registry',
  'ingestion',
  'coverage-monitor',
  'profile-orchestrator',
  'billing',
] as const;
export type ServiceName = (typeof SERVICES)[number];

/**
 * A platform service run as its own process from dist/, as in production, with its logs in
 * tmp/test-logs/. Tests talk to it over HTTP, MQTT and Kafka only.
 */
export class ServiceProcess {
  private child: ChildProcess | undefined;
  private exit: Promise<number | null> | undefined;
  readonly logFile: string;

  constructor(
    readonly name: ServiceName,
    readonly port: number,
    private readonly env: Record<string, string>,
    logTag = 'test',
  ) {
    const dir = join(REPO_ROOT, 'tmp', 'test-logs');
    mkdirSync(dir, { recursive: true });
    this.logFile = join(dir, `${logTag}-${name}.log`);
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(readyTimeoutMs = 60_000): Promise<void> {
    // Another process on our port would answer the readiness probe in our place.
    const taken = await fetch(`${this.baseUrl}/health/live`).then(
      () => true,
      () => false,
    );
    if (taken) throw new Error(`${this.name}: port ${this.port} is already in use`);
    const entry = join(REPO_ROOT, 'dist', 'apps', this.name, 'src', 'main.js');
    const log = createWriteStream(this.logFile, { flags: 'a' });
    const child = spawn(process.execPath, ['--enable-source-maps', entry], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...this.env, HTTP_PORT: String(this.port), TZ: 'UTC' },
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
          throw new Error(`${this.name} exited with ${exited}; see ${this.logFile}`);
        const res = await fetch(`${this.baseUrl}/health/ready`).catch(() => undefined);
        return res?.status === 200;
      },
      { timeoutMs: readyTimeoutMs, intervalMs: 200, what: `${this.name} to be ready` },
    );
  }

  /** SIGTERM and wait; resolves with the exit code (SIGKILL after the deadline). */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 20_000): Promise<number | null> {
    if (!this.child || !this.exit) return null;
    if (this.child.exitCode !== null) return this.child.exitCode;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), timeoutMs);
    const code = await this.exit;
    clearTimeout(timer);
    return code;
  }
}
