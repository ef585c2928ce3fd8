import { Inject, Injectable } from '@nestjs/common';
import type { BatchingProducer } from '@meterlink/kafka';
import { counter, gauge } from '@meterlink/observability';
import { TransactionalOutboxPublisher, type Pool } from '@meterlink/postgres';
import { PG_POOL, PRODUCER } from '../tokens';

const backlog = gauge('billing_outbox_backlog', 'Charge records not yet published (last pass)');
const published = counter('billing_charges_published_total', 'Records published from the outbox');

/**
 * billing.outbox, published in id order by one publisher at a time, so that a line's revisions
 * reach the topic in the order they were rated.
 */
@Injectable()
export class OutboxPublisher extends TransactionalOutboxPublisher {
  constructor(@Inject(PG_POOL) pool: Pool, @Inject(PRODUCER) producer: BatchingProducer) {
    super(pool, producer, {
      table: 'billing.outbox',
      loggerName: 'BillingOutbox',
      pollMs: 250,
      batchLimit: 2_000,
      backlog,
      published,
      valueFormat: 'stored',
      correlationHeader: false,
    });
  }
}
