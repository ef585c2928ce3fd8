import { Inject, Injectable } from '@nestjs/common';
import type { BatchingProducer } from '@meterlink/kafka';
import { gauge } from '@meterlink/observability';
import { TransactionalOutboxPublisher, type Pool } from '@meterlink/postgres';
import { PG_POOL, PRODUCER } from '../tokens';

const backlog = gauge('orchestrator_outbox_backlog', 'Outbox records not yet published');

/**
 * orchestrator.outbox, published in id order by one publisher at a time, so the order of a
 * swap's states on the topic is the order they were stored.
 */
@Injectable()
export class OutboxPublisher extends TransactionalOutboxPublisher {
  constructor(@Inject(PG_POOL) pool: Pool, @Inject(PRODUCER) producer: BatchingProducer) {
    super(pool, producer, {
      table: 'orchestrator.outbox',
      loggerName: 'OutboxPublisher',
      pollMs: 100,
      batchLimit: 500,
      backlog,
      valueFormat: 'compact',
      correlationHeader: true,
    });
  }
}
