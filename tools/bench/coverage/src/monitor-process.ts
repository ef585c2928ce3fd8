import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';

/** The repository root, whether this runs from dist/ (npm run bench:coverage) or from source. */
export const REPO_ROOT = join(__dirname, '..', '..', '..', '..', ...(__dirname.includes('/dist/') ? ['..'] : []));

/**
 * The coverage-monitor as its own process from dist/, as in production, its log in tmp/bench/.
 * Readiness is its /health/ready; an exit before that fails at once.
 */
export class MonitorProcess {
  private child: ChildProcess | undefined;
  private exit: Promise<number | null> | undefined;
  readonly logFile: string;

  constructor(
    readonly port: number,
    private readonly env: Record<string, string>,
  ) {
    const dir = join(REPO_ROOT, 'tmp', 'bench');
    mkdirSync(dir, { recursive: true });
    this.logFile = join(dir, 'coverage-monitor.log');
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(readyTimeoutMs: number): Promise<void> {
    const busy = await fetch(`${this.baseUrl}/health/live`).then(
      () => true,
      () => false,
    );
    if (busy) throw new Error(`port ${this.port} is already in use`);
    const log = createWriteStream(this.logFile, { flags: 'a' });
    // COVERAGE_BENCH_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", profiles the monitor.
    const extra = (process.env.COVERAGE_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const child = spawn(
      process.execPath,
      [
        '--enable-source-maps',
        ...extra,
        join(REPO_ROOT, 'dist', 'apps', 'coverage-monitor', 'src', 'main.js'),
      ],
      {
        cwd: REPO_ROOT,
        env: { ...process.env, ...this.env, HTTP_PORT: String(this.port), TZ: 'UTC' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    child.stdout.pipe(log);
    child.stderr.pipe(log);
    this.child = child;
    let exited: number | null | undefined;
    this.exit = new Promise((resolve) =>
      child.once('exit', (code) => {
        exited = code;
        resolve(code);
      }),
    );
    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      if (exited !== undefined)
        throw new Error(`coverage-monitor exited with ${exited}; see ${this.logFile}`);
      const res = await fetch(`${this.baseUrl}/health/ready`).catch(() => undefined);
      if (res?.status === 200) return;
      if (Date.now() > deadline) throw new Error('coverage-monitor did not become ready in time');
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  /** SIGTERM, and SIGKILL if it has not stopped after `timeoutMs`. */
  async stop(timeoutMs = 60_000): Promise<number | null> {
    if (!this.child || !this.exit || this.child.exitCode !== null) return this.child?.exitCode ?? null;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), timeoutMs);
    const code = await this.exit;
    clearTimeout(timer);
    return code;
  }
}
