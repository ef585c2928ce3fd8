import { join } from 'node:path';
import {
  Inject,
  Injectable,
  Module,
  type DynamicModule,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { producerHealth, type BatchingProducer } from '@meterlink/kafka';
import { HealthRegistry } from '@meterlink/observability';
import { createPool, migrate, pingPostgres, type Pool } from '@meterlink/postgres';
import { ObservabilityModule } from '@meterlink/service-kit';
import type { BillingConfig } from './config';
import { BILLING_CONFIG, PG_POOL } from './tokens';
import { LedgerBatch } from './ledger-batch';
import { RecordReadingsConsumer } from './record-readings/record-readings.consumer';
import { RecordTimelineConsumer } from './record-timeline/record-timeline.consumer';

export const BILLING_MIGRATIONS = join(__dirname, '..', 'migrations');

@Injectable()
class BillingLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject('DLQ_PRODUCER') private readonly producer: BatchingProducer,
    health: HealthRegistry,
  ) {
    health.register('postgres', () => pingPostgres(pool));
    health.register('kafka', () => producerHealth(producer));
  }
  async onApplicationBootstrap(): Promise<void> {
    await migrate(this.pool, 'billing', BILLING_MIGRATIONS);
    await this.producer.connect();
  }
  /** After Nest stopped the Kafka transport, the connections its handlers used. */
  async onApplicationShutdown(): Promise<void> {
    await this.producer.stop();
    await this.pool.end();
  }
}

@Module({})
export class BillingModule {
  static register(config: BillingConfig, producer: BatchingProducer): DynamicModule {
    return {
      module: BillingModule,
      imports: [ObservabilityModule],
      controllers: [RecordReadingsConsumer, RecordTimelineConsumer],
      providers: [
        { provide: BILLING_CONFIG, useValue: config },
        { provide: 'DLQ_PRODUCER', useValue: producer },
        { provide: PG_POOL, useFactory: () => createPool(config.DATABASE_URL, 'billing') },
        LedgerBatch,
        BillingLifecycle,
      ],
    };
  }
}
