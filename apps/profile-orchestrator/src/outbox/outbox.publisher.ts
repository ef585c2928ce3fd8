import { Inject, Injectable } from '@nestjs/common';
import { HEADER_CORRELATION_ID, HEADER_EVENT_TYPE } from '@meterlink/contracts';
import type { BatchingProducer } from '@meterlink/kafka';
import { createLogger, gauge } from '@meterlink/observability';
import { withTransaction, type Pool } from '@meterlink/postgres';
import { PG_POOL, PRODUCER } from '../tokens';

const backlog = gauge('orchestrator_outbox_backlog', 'Outbox records not yet published');

/**
 * Publishes the outbox in id order and deletes what Kafka acknowledged. One publisher at a time
 * (advisory lock), so the order of a swap's states on the topic is the order they were stored.
 */
@Injectable()
export class OutboxPublisher {
  private readonly log = createLogger('OutboxPublisher');
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private wake: (() => void) | undefined;

  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(PRODUCER) private readonly producer: BatchingProducer,
  ) {}

  start(): void {
    const loop = async (): Promise<void> => {
      while (!this.stopped) {
        let published = 0;
        try {
          published = await this.publishOnce();
        } catch (error) {
          this.log.warn({ err: error }, 'outbox publish failed; retrying');
        }
        if (published === 0)
          await new Promise<void>((r) => {
            this.wake = r;
            this.timer = setTimeout(r, 100);
          });
      }
    };
    this.running = loop();
  }

  /** Called after a transaction that wrote to the outbox, to publish without waiting for the poll. */
  poke(): void {
    if (this.timer) clearTimeout(this.timer);
    this.wake?.();
  }

  async publishOnce(limit = 500): Promise<number> {
    return withTransaction(this.pool, async (client) => {
      const { rows: lock } = await client.query<{ ok: boolean }>(
        `SELECT pg_try_advisory_xact_lock(hashtext('orchestrator.outbox')) AS ok`,
      );
      if (!lock[0]?.ok) return 0;
      const { rows } = await client.query<{
        id: string;
        topic: string;
        key: string;
        value: { type: string; correlationId?: string };
      }>('SELECT id, topic, key, value FROM orchestrator.outbox ORDER BY id LIMIT $1', [limit]);
      if (rows.length === 0) {
        backlog.set(0);
        return 0;
      }
      await this.producer.send(
        rows.map((r) => ({
          topic: r.topic,
          key: r.key,
          value: JSON.stringify(r.value),
          headers: {
            [HEADER_EVENT_TYPE]: r.value.type,
            ...(r.value.correlationId ? { [HEADER_CORRELATION_ID]: r.value.correlationId } : {}),
          },
        })),
      );
      // Exactly the rows published: a row with a lower id committed meanwhile (by a concurrent
      // transaction) is not in this snapshot and must stay for the next pass.
      await client.query('DELETE FROM orchestrator.outbox WHERE id = ANY($1::bigint[])', [
        rows.map((r) => r.id),
      ]);
      return rows.length;
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.poke();
    await this.running;
  }
}
