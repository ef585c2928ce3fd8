import { Inject, Injectable } from '@nestjs/common';
import type { Kafka } from 'kafkajs';
import { counter, createLogger } from '@meterlink/observability';
import { KAFKA } from '../tokens';
import { LeadershipService } from '../leadership.service';
import { CoverageStateRepository } from '../state/coverage-state.repository';
import {
  CoverageEventsPublisher,
  decodePending,
  type OutgoingEvent,
} from './coverage-events.publisher';
import { publishedEventIds } from './published-events.scanner';

const recovered = counter(
  'coverage_recovered_transitions_total',
  'Transitions left pending by a crashed writer, by whether they had reached Kafka already',
  ['outcome'],
);

/**
 * Publishes what a crashed writer stored but may not have published: the transitions in the
 * pending entries of this replica's previous life (at boot, before consuming) and of replicas
 * that are no longer alive (by the leader). Each is checked against the topic first, so a
 * transition that made it to Kafka just before the crash is not published twice.
 */
@Injectable()
export class PendingRecoveryService {
  private readonly log = createLogger('PendingRecovery');

  constructor(
    @Inject(KAFKA) private readonly kafka: Kafka,
    private readonly states: CoverageStateRepository,
    private readonly publisher: CoverageEventsPublisher,
    private readonly leadership: LeadershipService,
  ) {}

  /** At boot: whatever this replica's previous life left. */
  async recoverOwn(): Promise<number> {
    const me = this.leadership.replicaId;
    const boot = this.leadership.bootTime;
    return this.recover((owner, storedAt) => Promise.resolve(owner === me && storedAt < boot));
  }

  /** By the leader: what replicas that stopped running left. */
  async recoverAbandoned(): Promise<number> {
    const me = this.leadership.replicaId;
    const boot = this.leadership.bootTime;
    return this.recover(async (owner, storedAt) =>
      owner === me ? storedAt < boot : !(await this.leadership.isAlive(owner)),
    );
  }

  private async recover(
    abandoned: (owner: string, storedAt: number) => Promise<boolean>,
  ): Promise<number> {
    const entries = await this.states.pendingEntries();
    const chosen: { meterId: string; raw: string; storedAt: number; events: OutgoingEvent[] }[] =
      [];
    for (const entry of entries) {
      const pending = decodePending(entry.raw);
      if (await abandoned(pending.owner, pending.storedAt))
        chosen.push({ ...entry, storedAt: pending.storedAt, events: pending.events });
    }
    if (chosen.length === 0) return 0;
    // Kafka stamps a record when it is sent, which is after its transition was stored.
    const since = Math.min(...chosen.map((c) => c.storedAt)) - 1_000;
    const published = await publishedEventIds(this.kafka, since);
    const events = chosen.flatMap((c) => c.events);
    const missing = events.filter((e) => !published.has(e.record.eventId));
    await this.publisher.publish(missing);
    await this.states.clearPending(chosen.map((c) => ({ meterId: c.meterId, pending: c.raw })));
    recovered.inc({ outcome: 'published' }, missing.length);
    recovered.inc({ outcome: 'already_on_topic' }, events.length - missing.length);
    this.log.warn(
      {
        meters: chosen.length,
        published: missing.length,
        alreadyOnTopic: events.length - missing.length,
      },
      'recovered coverage transitions a crash left pending',
    );
    return missing.length;
  }
}
