import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pollUntil } from './poll';

/**
 * A platform service run from dist/ as in production (`node --enable-source-maps`, as the
 * Dockerfile does), with its log in the bench's output folder.
 */
export class ServiceProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<number | null> | undefined;
  private exitCode: number | null | undefined;

  constructor(
    readonly name: 'registry' | 'ingestion',
    private readonly repoRoot: string,
    readonly port: number,
    private readonly env: Record<string, string>,
    readonly logFile: string,
    private readonly nodeArgs: string[] = [],
  ) {}

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(readyTimeoutMs = 120_000): Promise<void> {
    const entry = join(this.repoRoot, 'dist', 'apps', this.name, 'src', 'main.js');
    if (!existsSync(entry)) throw new Error(`${entry} is missing: run node tools/build/build.cjs`);
    mkdirSync(dirname(this.logFile), { recursive: true });
    const log = createWriteStream(this.logFile, { flags: 'a' });
    const child = spawn(process.execPath, ['--enable-source-maps', ...this.nodeArgs, entry], {
      cwd: this.repoRoot,
      env: { ...process.env, ...this.env, HTTP_PORT: String(this.port), TZ: 'UTC' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.pipe(log);
    child.stderr.pipe(log);
    this.child = child;
    this.exited = new Promise((resolve) =>
      child.once('exit', (code) => {
        this.exitCode = code;
        resolve(code);
      }),
    );
    await pollUntil(
      async () => {
        if (this.exitCode !== undefined)
          throw new Error(`${this.name} exited with ${this.exitCode}; see ${this.logFile}`);
        const res = await fetch(`${this.baseUrl}/health/ready`).catch(() => undefined);
        return res?.status === 200;
      },
      { timeoutMs: readyTimeoutMs, intervalMs: 200, what: `${this.name} to be ready` },
    );
  }

  get running(): boolean {
    return this.child !== undefined && this.exitCode === undefined;
  }

  /** SIGTERM, then SIGKILL after the deadline; resolves with the exit code. */
  async stop(timeoutMs = 30_000): Promise<number | null> {
    if (!this.child || !this.exited) return null;
    if (this.exitCode !== undefined) return this.exitCode;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), timeoutMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}
