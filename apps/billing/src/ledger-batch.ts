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
    await withTransaction(this.pool, async (client) => {
      const { rows } = await client.query<{ next_offset: string }>(
        'SELECT next_offset FROM billing.consumed_offsets WHERE consumer = $1 AND topic = $2 AND partition = $3 FOR UPDATE',
        [BILLING_CONSUMER, batch.topic, batch.partition],
      );
      const applied = rows[0] ? BigInt(rows[0].next_offset) : -1n;
      // Offsets ascend within a batch: when its first record is fresh, all are (the usual case,
      // which spares a BigInt per record).
      const first = batch.records[0];
      const fresh =
        first !== undefined && BigInt(first.offset) >= applied
          ? batch.records
          : batch.records.filter((r) => BigInt(r.offset) >= applied);
      if (fresh.length === 0) return;
      await write(client, fresh);
      const next = (BigInt(fresh.at(-1)!.offset) + 1n).toString();
      await client.query(
        `INSERT INTO billing.consumed_offsets (consumer, topic, partition, next_offset) VALUES ($1, $2, $3, $4)
         ON CONFLICT (consumer, topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset`,
        [BILLING_CONSUMER, batch.topic, batch.partition, next],
      );
    });
  }
}
