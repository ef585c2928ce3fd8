import { randomBytes } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from '@meterlink/redis';
import { createLogger, gauge } from '@meterlink/observability';
import { COVERAGE_CONFIG, REDIS } from './tokens';
import type { CoverageConfig } from './config';
import { LeadershipError } from './leadership.error';
import { LEADER_KEY, aliveKey } from './state/layout';
import { CLAIM_REPLICA, DELETE_IF, HOLD_LEASE } from './state/scripts';

const leaderGauge = gauge(
  'coverage_leader',
  '1 while this replica sweeps deadlines and correlates',
);

type ClaimReply = 1 | [holder: string, pttl: number];
interface LeadershipCommands {
  covClaimReplica(key: string, token: string, ttl: number): Promise<ClaimReply>;
  covHoldLease(key: string, token: string, ttl: number): Promise<number>;
  covDeleteIf(key: string, value: string): Promise<number>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * One replica at a time sweeps silence deadlines, correlates carrier outages and recovers what
 * dead replicas left pending: a lease in Redis, renewed at a third of its time to live. Every
 * replica also says it is alive, so that its pending transitions are left to it while it runs.
 *
 * The liveness key (`cov:alive:<COVERAGE_REPLICA_ID>`) is also this process's claim on its
 * replica id: it holds a token unique to the process. Pending transitions are owned by replica
 * id, and a replica's recovery at boot publishes whatever its id left, so two live processes
 * with one id would publish each other's in-flight transitions (and both lead). A process
 * therefore waits out the key of a dead previous life, refuses to start when a live one keeps
 * renewing it, and shuts down if it ever finds its id taken over.
 */
@Injectable()
export class LeadershipService {
  private readonly log = createLogger('Leadership');
  private timer: NodeJS.Timeout | undefined;
  private leader = false;
  private stopped = false;
  private running: Promise<void> | undefined;
  readonly bootTime = Date.now();
  /** This process's value in its liveness key and in the lease while it leads. */
  readonly token: string;
  /** What to do when another process took this replica id over (replaced in tests). */
  onSuperseded: () => void = () => process.kill(process.pid, 'SIGTERM');

  constructor(
    @Inject(COVERAGE_CONFIG) private readonly config: CoverageConfig,
    @Inject(REDIS) private readonly redis: Redis,
  ) {
    redis.defineCommand('covClaimReplica', { numberOfKeys: 1, lua: CLAIM_REPLICA });
    redis.defineCommand('covHoldLease', { numberOfKeys: 1, lua: HOLD_LEASE });
    redis.defineCommand('covDeleteIf', { numberOfKeys: 1, lua: DELETE_IF });
    this.token = `${config.COVERAGE_REPLICA_ID}@${this.bootTime}.${randomBytes(4).toString('hex')}`;
  }

  get replicaId(): string {
    return this.config.COVERAGE_REPLICA_ID;
  }

  private get commands(): LeadershipCommands {
    return this.redis as unknown as LeadershipCommands;
  }

  isLeader(): boolean {
    return this.leader && !this.stopped;
  }

  async start(): Promise<void> {
    await this.claim();
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

  /**
   * Takes the replica id for this process. A key left by a dead process lapses within its time
   * to live (2 × COVERAGE_LEADER_TTL_MS) and is waited out; a running replica renews its key every
   * third of the TTL, which shows as an expiry moving later (or another token): refused.
   */
  private async claim(): Promise<void> {
    const ttl = this.config.COVERAGE_LEADER_TTL_MS;
    // Renewals move the expiry by about ttl / 3; round trips move the measurement by far less.
    const slackMs = Math.floor(ttl / 10);
    let seen: { holder: string; expiresAt: number } | undefined;
    for (;;) {
      const reply = await this.commands.covClaimReplica(
        aliveKey(this.replicaId),
        this.token,
        2 * ttl,
      );
      if (reply === 1) {
        if (seen) this.log.info({ replicaId: this.replicaId }, 'replica id free again; claimed');
        return;
      }
      const [holder, pttl] = reply;
      const expiresAt = Date.now() + Number(pttl);
      const renewed =
        Number(pttl) < 0 ||
        (seen !== undefined && (holder !== seen.holder || expiresAt > seen.expiresAt + slackMs));
      if (renewed)
        throw new LeadershipError(
          'replica_id_in_use',
          `COVERAGE_REPLICA_ID ${this.replicaId} is in use by a running replica (${holder}); ` +
            'give every replica its own id (the pod name under a StatefulSet)',
        );
      if (!seen)
        this.log.warn(
          { replicaId: this.replicaId, holder, remainingMs: Number(pttl) },
          'replica id still marked alive (a previous life?); waiting for it to lapse',
        );
      seen ??= { holder, expiresAt };
      await sleep(Math.max(50, Math.floor(ttl / 6)));
    }
  }

  private async renew(): Promise<void> {
    const ttl = this.config.COVERAGE_LEADER_TTL_MS;
    const claimed = await this.commands.covClaimReplica(
      aliveKey(this.replicaId),
      this.token,
      2 * ttl,
    );
    if (claimed !== 1) {
      this.superseded(claimed[0]);
      return;
    }
    const held = await this.commands.covHoldLease(LEADER_KEY, this.token, ttl);
    this.setLeader(held === 1);
  }

  /**
   * Another process claimed this replica id while this one could not renew it (paused, cut off
   * from Redis for longer than the key lives): it owns the id's pending transitions now.
   */
  private superseded(holder: string): void {
    if (this.stopped) return;
    this.stopped = true;
    this.setLeader(false);
    this.log.fatal(
      { replicaId: this.replicaId, holder },
      'replica id taken over by another process; shutting down',
    );
    this.onSuperseded();
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
      // Only what is still this process's: a successor's lease or claim stays.
      await this.commands.covDeleteIf(LEADER_KEY, this.token);
      await this.commands.covDeleteIf(aliveKey(this.replicaId), this.token);
    } catch (error) {
      this.log.warn({ err: error }, 'could not release the lease; it lapses on its own');
    }
  }
}
