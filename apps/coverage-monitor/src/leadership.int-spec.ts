import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createRedis, type Redis } from '@meterlink/redis';
import { REPO_ROOT, ServiceProcess, eventually, infraEnv } from '@meterlink/testing';
import { coverageConfigSchema } from './config';
import { LeadershipError } from './leadership.error';
import { LeadershipService } from './leadership.service';
import { LEADER_KEY, aliveKey } from './state/layout';
import { runTag } from './test-support/coverage-fixtures';

/**
 * A replica id names whose pending transitions are whose, so one id must never run twice: a
 * restarted replica waits out the liveness key of its dead previous life, and one whose id a
 * running replica keeps renewing refuses to start.
 */
describe('coverage-monitor replica id', () => {
  const infra = infraEnv();
  const redis = createRedis(infra.REDIS_URL, 'int-replica-id');
  const services: LeadershipService[] = [];
  const clients: Redis[] = [];
  const TTL = 600;

  const leadership = (replicaId: string): LeadershipService => {
    const config = coverageConfigSchema.parse({
      KAFKA_BROKERS: infra.KAFKA_BROKERS,
      REDIS_URL: infra.REDIS_URL,
      COVERAGE_REPLICA_ID: replicaId,
      COVERAGE_LEADER_TTL_MS: String(TTL),
    });
    const client = createRedis(infra.REDIS_URL, 'int-replica-id');
    clients.push(client);
    const service = new LeadershipService(config, client);
    services.push(service);
    return service;
  };

  afterAll(async () => {
    for (const s of services) await s.stop();
    for (const c of [...clients, redis]) await c.quit();
  });

  it('waits out the liveness key a dead previous life left, then runs under the id', async () => {
    const id = `dead-${runTag()}`;
    await redis.set(aliveKey(id), 'previous-life', 'PX', 2 * TTL);
    const started = Date.now();
    const service = leadership(id);
    await service.start();
    expect(Date.now() - started).toBeGreaterThanOrEqual(2 * TTL - 100);
    expect(await redis.get(aliveKey(id))).toBe(service.token);
    await service.stop();
    expect(await redis.exists(aliveKey(id))).toBe(0);
  });

  it('refuses to start while a running replica keeps renewing the id', async () => {
    const id = `live-${runTag()}`;
    const renew = (): Promise<unknown> => redis.set(aliveKey(id), 'sibling', 'PX', 2 * TTL);
    await renew();
    const sibling = setInterval(() => void renew(), TTL / 3);
    try {
      const error = await leadership(id)
        .start()
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(error).toBeInstanceOf(LeadershipError);
      expect(error).toMatchObject({ code: 'replica_id_in_use' });
      expect(await redis.get(aliveKey(id))).toBe('sibling');
    } finally {
      clearInterval(sibling);
    }
  });

  it('stops leading and shuts down when another process took its id over', async () => {
    const id = `taken-${runTag()}`;
    const service = leadership(id);
    let superseded = 0;
    service.onSuperseded = () => superseded++;
    await service.start();
    // As if this process had stalled past the key's life and a new one had claimed the id.
    await redis.set(aliveKey(id), 'successor', 'PX', 10_000);
    await eventually(() => superseded === 1, { timeoutMs: 5_000, what: 'the takeover noticed' });
    expect(service.isLeader()).toBe(false);
    // It no longer renews the lease: the lease lapses, whoever takes it next.
    await eventually(async () => (await redis.get(LEADER_KEY)) !== service.token, {
      timeoutMs: 5_000,
      what: 'the lease no longer held',
    });
    await service.stop();
    // Its shutdown leaves the successor's claim alone.
    expect(await redis.get(aliveKey(id))).toBe('successor');
    await redis.del(aliveKey(id));
  });

  it('a second process with the same COVERAGE_REPLICA_ID exits, and the first keeps running', async () => {
    const id = `proc-${runTag()}`;
    const env = {
      ...infra,
      COVERAGE_REPLICA_ID: id,
      COVERAGE_LEADER_TTL_MS: '1500',
      COVERAGE_OUTAGE_MIN_AFFECTED: '1000000',
    };
    const first = new ServiceProcess('coverage-monitor', 4915, env, 'int-coverage-replica-id');
    try {
      await first.start(90_000);
      // The second one as a bare process: its exit code and output are the subject.
      const second = spawn(
        process.execPath,
        [join(REPO_ROOT, 'dist', 'apps', 'coverage-monitor', 'src', 'main.js')],
        {
          cwd: REPO_ROOT,
          env: { ...process.env, ...env, HTTP_PORT: '4916', TZ: 'UTC' },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let output = '';
      second.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      second.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => second.once('exit', resolve));
      const timer = setTimeout(() => second.kill('SIGKILL'), 60_000);
      const code = await exited;
      clearTimeout(timer);
      expect(code).toBe(1);
      expect(output).toContain(`COVERAGE_REPLICA_ID ${id} is in use by a running replica`);
      expect((await fetch(`${first.baseUrl}/health/ready`)).status).toBe(200);
      expect(await redis.get(aliveKey(id))).toMatch(new RegExp(`^${id}@`));
    } finally {
      expect(await first.stop()).toBe(0);
    }
  });
});
