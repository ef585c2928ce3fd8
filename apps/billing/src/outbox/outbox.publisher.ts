import { Inject, Injectable } from '@nestjs/common';
import { HEADER_EVENT_TYPE } from '@meterlink/contracts';
import type { BatchingProducer } from '@meterlink/kafka';
import { counter, createLogger, gauge } from '@meterlink/observability';
import { withTransaction, type Pool } from '@meterlink/postgres';
import { PG_POOL, PRODUCER } from '../tokens';

const backlog = gauge('billing_outbox_backlog', 'Charge records not yet published (last pass)');
const published = counter('billing_charges_published_total', 'Records published from the outbox');

/**
 * Publishes billing.outbox in id order and deletes what Kafka acknowledged, one publisher at a
 * time (advisory lock) so that a line's revisions reach the topic in the order they were rated.
 * A crash between the acknowledgement and the delete publishes a record again with the same
 * eventId, which consumers drop.
 */
@Injectable()
export class OutboxPublisher {
  private readonly log = createLogger('BillingOutbox');
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
        let sent = 0;
        try {
          sent = await this.publishOnce();
        } catch (error) {
          this.log.warn({ err: error }, 'outbox publish failed; retrying');
        }
        if (sent === 0 && !this.stopped)
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, 250);
            this.wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
      }
    };
    this.running = loop();
  }

  /** After a transaction that wrote to the outbox: publish without waiting for the poll. */
  poke(): void {
    this.wake?.();
  }

  async publishOnce(limit = 2_000): Promise<number> {
    return withTransaction(this.pool, async (client) => {
      const { rows: lock } = await client.query<{ ok: boolean }>(
        `SELECT pg_try_advisory_xact_lock(hashtext('billing.outbox')) AS ok`,
      );
      if (!lock[0]?.ok) return 0;
      const { rows } = await client.query<{
        id: string;
        topic: string;
        key: string;
        value: string;
        type: string;
      }>(
        `SELECT id, topic, key, value::text AS value, value->>'type' AS type FROM billing.outbox ORDER BY id LIMIT $1`,
        [limit],
      );
      backlog.set(rows.length);
      if (rows.length === 0) return 0;
      await this.producer.send(
        rows.map((r) => ({
          topic: r.topic,
          key: r.key,
          value: r.value,
          headers: { [HEADER_EVENT_TYPE]: r.type },
        })),
      );
      // Exactly the rows published: one committed meanwhile with a lower id waits for the next pass.
      await client.query('DELETE FROM billing.outbox WHERE id = ANY($1::bigint[])', [
        rows.map((r) => r.id),
      ]);
      published.inc(rows.length);
      return rows.length;
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.running;
  }
}
