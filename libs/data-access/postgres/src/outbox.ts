import { HEADER_CORRELATION_ID, HEADER_EVENT_TYPE } from '@meterlink/contracts';
import type { BatchingProducer } from '@meterlink/kafka';
import { createLogger } from '@meterlink/observability';
import type { Pool } from 'pg';
import { withTransaction } from './transaction';

export interface OutboxPublisherOptions {
  /** `schema.table` of the outbox (id bigserial, topic, key, value jsonb); also the lock key. */
  table: string;
  loggerName: string;
  /** How long the loop sleeps when the outbox was empty (a poke wakes it sooner). */
  pollMs: number;
  /** Rows per pass at most. */
  batchLimit: number;
  /** Rows found by the last pass. */
  backlog: { set(value: number): void };
  /** Rows published. */
  published?: { inc(value: number): void };
  /**
   * The Kafka value: the jsonb text as PostgreSQL prints it (`stored`), or compact JSON
   * (`compact`, JSON.stringify of the parsed value).
   */
  valueFormat: 'stored' | 'compact';
  /** Whether the value's correlationId (when there is one) also goes in a header. */
  correlationHeader: boolean;
}

interface OutboxRow {
  id: string;
  topic: string;
  key: string;
  value: string;
  type: string;
  correlationId: string | null;
}

/**
 * Publishes a transactional outbox in id order and deletes what Kafka acknowledged, one publisher
 * at a time (transaction-scoped advisory lock on hashtext(table)), so records reach their topics
 * in the order they were stored. A crash between the acknowledgement and the delete publishes a
 * record again with the same eventId, which consumers drop.
 */
export class TransactionalOutboxPublisher {
  private readonly log: ReturnType<typeof createLogger>;
  private running: Promise<void> | undefined;
  private stopped = false;
  private wake: (() => void) | undefined;

  constructor(
    private readonly pool: Pool,
    private readonly producer: BatchingProducer,
    private readonly options: OutboxPublisherOptions,
  ) {
    this.log = createLogger(options.loggerName);
  }

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
            const timer = setTimeout(resolve, this.options.pollMs);
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

  async publishOnce(limit = this.options.batchLimit): Promise<number> {
    const { table, backlog, published, valueFormat, correlationHeader } = this.options;
    return withTransaction(this.pool, async (client) => {
      const { rows: lock } = await client.query<{ ok: boolean }>(
        `SELECT pg_try_advisory_xact_lock(hashtext($1)) AS ok`,
        [table],
      );
      if (!lock[0]?.ok) return 0;
      const { rows } = await client.query<OutboxRow>(
        `SELECT id, topic, key, value::text AS value, value->>'type' AS type,
                value->>'correlationId' AS "correlationId"
           FROM ${table} ORDER BY id LIMIT $1`,
        [limit],
      );
      backlog.set(rows.length);
      if (rows.length === 0) return 0;
      await this.producer.send(
        rows.map((r) => ({
          topic: r.topic,
          key: r.key,
          value: valueFormat === 'stored' ? r.value : JSON.stringify(JSON.parse(r.value)),
          headers: {
            [HEADER_EVENT_TYPE]: r.type,
            ...(correlationHeader && r.correlationId
              ? { [HEADER_CORRELATION_ID]: r.correlationId }
              : {}),
          },
        })),
      );
      // Exactly the rows published: a row with a lower id committed meanwhile (by a concurrent
      // transaction) is not in this snapshot and must stay for the next pass.
      await client.query(`DELETE FROM ${table} WHERE id = ANY($1::bigint[])`, [
        rows.map((r) => r.id),
      ]);
      published?.inc(rows.length);
      return rows.length;
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.running;
  }
}
