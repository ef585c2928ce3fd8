import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from '@meterlink/redis';
import { createLogger, gauge } from '@meterlink/observability';
import { COVERAGE_CONFIG, REDIS } from './tokens';
import type { CoverageConfig } from './config';
import { LEADER_KEY, aliveKey } from './state/layout';
import { HOLD_LEASE, RELEASE_LEASE } from './state/scripts';

const leaderGauge = gauge(
  'coverage_leader',
  '1 while this replica sweeps deadlines and correlates',
);

/**
 * One replica at a time sweeps silence deadlines, correlates carrier outages and recovers what
 * dead replicas left pending: a lease in Redis, renewed at a third of its time to live. Every
 * replica also says it is alive, so that its pending transitions are left to it while it runs.
 */
@Injectable()
export class LeadershipService {
  private readonly log = createLogger('Leadership');
  private timer: NodeJS.Timeout | undefined;
  private leader = false;
  private stopped = false;
  private running: Promise<void> | undefined;
  readonly bootTime = Date.now();

  constructor(
    @Inject(COVERAGE_CONFIG) private readonly config: CoverageConfig,
    @Inject(REDIS) private readonly redis: Redis,
  ) {
    redis.defineCommand('covHoldLease', { numberOfKeys: 1, lua: HOLD_LEASE });
    redis.defineCommand('covReleaseLease', { numberOfKeys: 1, lua: RELEASE_LEASE });
  }

  get replicaId(): string {
    return this.config.COVERAGE_REPLICA_ID;
  }

  isLeader(): boolean {
    return this.leader && !this.stopped;
  }

  async start(): Promise<void> {
    await this.renew();
    const tick = (): void => {
      if (this.stopped) return;
      this.running = this.renew()
        .catch((error: unknown) => {
          this.setLeader(false);
          this.log.warn({ err: error }, 'lease renewal failed');
        })
        .finally(() => {
          if (!this.stopped)
            this.timer = setTimeout(tick, Math.floor(this.config.COVERAGE_LEADER_TTL_MS / 3));
        });
    };
    this.timer = setTimeout(tick, Math.floor(this.config.COVERAGE_LEADER_TTL_MS / 3));
  }

  /** Whether a replica is running (its own pending transitions are its business). */
  async isAlive(replicaId: string): Promise<boolean> {
    if (replicaId === this.replicaId) return true;
    return (await this.redis.exists(aliveKey(replicaId))) === 1;
  }

  private async renew(): Promise<void> {
    const ttl = this.config.COVERAGE_LEADER_TTL_MS;
    await this.redis.set(aliveKey(this.replicaId), String(this.bootTime), 'PX', 2 * ttl);
    const held = await (
      this.redis as unknown as {
        covHoldLease(key: string, id: string, ttl: number): Promise<number>;
      }
    ).covHoldLease(LEADER_KEY, this.replicaId, ttl);
    this.setLeader(held === 1);
  }

  private setLeader(leader: boolean): void {
    if (leader !== this.leader)
      this.log.info(
        { replicaId: this.replicaId, leader },
        leader ? 'leading' : 'no longer leading',
      );
    this.leader = leader;
    leaderGauge.set(leader ? 1 : 0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
    this.setLeader(false);
    try {
      await (
        this.redis as unknown as { covReleaseLease(key: string, id: string): Promise<number> }
      ).covReleaseLease(LEADER_KEY, this.replicaId);
      await this.redis.del(aliveKey(this.replicaId));
    } catch (error) {
      this.log.warn({ err: error }, 'could not release the lease; it lapses on its own');
    }
  }
}
