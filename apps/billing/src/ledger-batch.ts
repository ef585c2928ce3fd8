import { Inject, Injectable } from '@nestjs/common';
import type { ConsumedBatch, ConsumedRecord } from '@meterlink/kafka';
import { withTransaction, type Pool, type PoolClient } from '@meterlink/postgres';
import { PG_POOL } from './tokens';

export const BILLING_CONSUMER = 'billing';

/**
 * Runs a batch's writes in one transaction with the partition's next offset: records below the
 * stored offset were already applied and are skipped, which makes Kafka redelivery harmless.
 *
 * The COMMIT stays synchronous on purpose. BatchConsumer commits the Kafka offset once this
 * resolves, and a restarted group resumes from Kafka's offset; the stored offsets only skip
 * records, they never rewind the group. With synchronous_commit off, a PostgreSQL crash could
 * lose a transaction whose Kafka offset was already committed: its records would never come back.
 */
@Injectable()
export class LedgerBatch {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  async apply<T>(
    batch: ConsumedBatch<T>,
    write: (client: PoolClient, records: ConsumedRecord<T>[]) => Promise<void>,
  ): Promise<void> {
    const { records } = batch;
    await this.applyRows(
      batch.topic,
      batch.partition,
      records.length,
      (i) => records[i]!.offset,
      (client, from) => write(client, from === 0 ? records : records.slice(from)),
    );
  }

  /**
   * The same for a batch kept as rows of its own: `offsetOf(i)` is row i's offset (ascending);
   * `write` gets the first row not applied yet and stores the rows from there.
   */
  async applyRows(
    topic: string,
    partition: number,
    n: number,
    offsetOf: (i: number) => string,
    write: (client: PoolClient, from: number) => Promise<void>,
  ): Promise<void> {
    await withTransaction(this.pool, async (client) => {
      const { rows } = await client.query<{ next_offset: string }>(
        'SELECT next_offset FROM billing.consumed_offsets WHERE consumer = $1 AND topic = $2 AND partition = $3 FOR UPDATE',
        [BILLING_CONSUMER, topic, partition],
      );
      const applied = rows[0] ? BigInt(rows[0].next_offset) : -1n;
      // Offsets ascend within a batch: when its first record is fresh, all are (the usual case,
      // which spares a BigInt per record).
      let from = 0;
      while (from < n && BigInt(offsetOf(from)) < applied) from++;
      if (from === n) return;
      await write(client, from);
      const next = (BigInt(offsetOf(n - 1)) + 1n).toString();
      await client.query(
        `INSERT INTO billing.consumed_offsets (consumer, topic, partition, next_offset) VALUES ($1, $2, $3, $4)
         ON CONFLICT (consumer, topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset`,
        [BILLING_CONSUMER, topic, partition, next],
      );
    });
  }
}
