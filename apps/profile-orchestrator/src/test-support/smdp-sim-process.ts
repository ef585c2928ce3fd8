import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, eventually } from '@meterlink/testing';

/**
 * The simulated carrier SM-DP+ (tools/smdp-sim, ISSUE6 contract A) as its own process, from
 * dist/: every carrier under `/{carrierId}`; its knobs and counters over HTTP.
 */
export class SmdpSimProcess {
  private child: ChildProcess | undefined;

  constructor(readonly port: number) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get urlTemplate(): string {
    return `${this.url}/{carrierId}`;
  }

  async start(): Promise<void> {
    const dir = join(REPO_ROOT, 'tmp', 'test-logs');
    mkdirSync(dir, { recursive: true });
    const log = createWriteStream(join(dir, `int-orch-smdp-sim-${this.port}.log`), { flags: 'a' });
    const child = spawn(
      process.execPath,
      [join(REPO_ROOT, 'dist', 'tools', 'smdp-sim', 'src', 'main.js')],
      {
        cwd: REPO_ROOT,
        env: { ...process.env, SMDP_SIM_PORT: String(this.port), LOG_LEVEL: 'info' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    child.stdout.pipe(log);
    child.stderr.pipe(log);
    this.child = child;
    await eventually(
      async () => (await fetch(`${this.url}/health`).catch(() => undefined))?.status === 200,
      { timeoutMs: 30_000, what: 'smdp-sim to answer' },
    );
  }

  async stop(): Promise<void> {
    if (!this.child || this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child!.once('exit', resolve));
    this.child.kill('SIGTERM');
    await exited;
  }

  async configure(carrierId: string, config: Record<string, unknown>): Promise<void> {
    const res = await fetch(`${this.url}/${carrierId}/sim/config`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(config),
    });
    if (!res.ok) throw new Error(`sim/config → ${res.status}: ${await res.text()}`);
  }

  async stats(carrierId: string): Promise<{
    orders: number;
    confirmations: number;
    downloads: number;
    cancellations: number;
    replays: number;
    openOrders: number;
    failures: Record<string, number>;
  }> {
    const res = await fetch(`${this.url}/${carrierId}/sim/stats`);
    return (await res.json()) as never;
  }

  /** What a meter's IPA does with an activation code: ES9+ downloadProfile. */
  async download(
    carrierId: string,
    eid: string,
    matchingId: string,
  ): Promise<{ iccid: string } | { reason: string }> {
    const res = await fetch(`${this.url}/${carrierId}/gsma/rsp2/es9plus/downloadProfile`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ eid, matchingId }),
    });
    return (await res.json()) as { iccid: string } | { reason: string };
  }
}
