import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Peak and current resident set size of a process, in MiB, from /proc (Linux). */
export async function memoryOf(pid: number): Promise<{ peakMiB: number; currentMiB: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string): number =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { peakMiB: kib('VmHWM') / 1024, currentMiB: kib('VmRSS') / 1024 };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The registry from dist/, as a process of the bench's own, its log in the run directory. */
export class RegistryProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<number | null> | undefined;
  private exitCode: number | null | undefined;

  constructor(
    private readonly repoRoot: string,
    readonly port: number,
    private readonly env: Record<string, string>,
    readonly logFile: string,
    private readonly nodeArgs: string[] = [],
  ) {}

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number {
    if (!this.child?.pid) throw new Error('registry not started');
    return this.child.pid;
  }

  async start(timeoutMs = 60_000): Promise<void> {
    const taken = await fetch(`${this.baseUrl}/health/live`).then(
      () => true,
      () => false,
    );
    if (taken) throw new Error(`port ${this.port} is already in use`);
    const log = createWriteStream(this.logFile, { flags: 'a' });
    const child = spawn(
      process.execPath,
      [...this.nodeArgs, join(this.repoRoot, 'dist', 'apps', 'registry', 'src', 'main.js')],
      {
        cwd: this.repoRoot,
        env: { ...process.env, ...this.env, HTTP_PORT: String(this.port), TZ: 'UTC' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    child.stdout.pipe(log);
    child.stderr.pipe(log);
    this.child = child;
    this.exited = new Promise((resolve) =>
      child.once('exit', (code) => {
        this.exitCode = code;
        resolve(code);
      }),
    );
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.exitCode !== undefined)
        throw new Error(`registry exited with ${this.exitCode}; see ${this.logFile}`);
      const res = await fetch(`${this.baseUrl}/health/ready`).catch(() => undefined);
      if (res?.status === 200) return;
      await sleep(200);
    }
    throw new Error(`registry not ready within ${timeoutMs} ms; see ${this.logFile}`);
  }

  async stop(timeoutMs = 30_000): Promise<number | null> {
    if (!this.child || !this.exited || this.exitCode !== undefined) return this.exitCode ?? null;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), timeoutMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}
