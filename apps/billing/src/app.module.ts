import { join } from 'node:path';
import {
  Inject,
  Injectable,
  Module,
  type DynamicModule,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import type { Kafka } from 'kafkajs';
import { TOPICS } from '@meterlink/contracts';
import { ensureTopics, producerHealth, type BatchingProducer } from '@meterlink/kafka';
import { HealthRegistry } from '@meterlink/observability';
import { createPool, migrate, pingPostgres, type Pool } from '@meterlink/postgres';
import { ApiAuthGuard, ObservabilityModule, OPERATOR_API_TOKENS } from '@meterlink/service-kit';
import type { BillingConfig } from './config';
import { BILLING_CONFIG, CONSUMPTION_TARIFFS, PG_POOL, PRODUCER } from './tokens';
import { LedgerBatch } from './ledger-batch';
import { RecordReadingsConsumer } from './record-readings/record-readings.consumer';
import { RecordTimelineConsumer } from './record-timeline/record-timeline.consumer';
import { RecordFleetConsumer } from './record-fleet/record-fleet.consumer';
import { RatingService } from './rating/rating.service';
import { loadConsumptionTariffs } from './rating/consumption-tariffs';
import { OutboxPublisher } from './outbox/outbox.publisher';
import { StatementsController } from './statements/statements.controller';
import { StatementsRepository } from './statements/statements.repository';
import { AuditRepository } from './statements/audit.repository';
import { CloseMonthController } from './close-month/close-month.controller';
import { CloseMonthService } from './close-month/close-month.service';
import { OpenApiController } from './api/openapi.controller';
import { SweepMonthsService } from './sweep-months/sweep-months.service';

export const BILLING_MIGRATIONS = join(__dirname, '..', 'migrations');

/** The topics billing reads and the one it writes. */
const BILLING_TOPICS = [
  TOPICS.meterReadings,
  TOPICS.meterConnectivity,
  TOPICS.profileSwaps,
  TOPICS.fleetMeters,
  TOPICS.fleetCarriers,
  TOPICS.billingCharges,
  TOPICS.deadLetter,
];

@Injectable()
class BillingLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(PRODUCER) private readonly producer: BatchingProducer,
    @Inject('KAFKA') private readonly kafka: Kafka,
    private readonly rating: RatingService,
    private readonly outbox: OutboxPublisher,
    private readonly sweeps: SweepMonthsService,
    health: HealthRegistry,
  ) {
    health.register('postgres', () => pingPostgres(pool));
    health.register('kafka', () => producerHealth(producer));
  }
  async onApplicationBootstrap(): Promise<void> {
    await migrate(this.pool, 'billing', BILLING_MIGRATIONS);
    await ensureTopics(this.kafka, BILLING_TOPICS);
    await this.producer.connect();
    this.outbox.start();
    await this.rating.unblockAll();
    this.rating.start();
    this.sweeps.start();
  }
  /** After Nest stopped the Kafka transport: sweeps and rating, then the outbox, then the connections. */
  async onApplicationShutdown(): Promise<void> {
    await this.sweeps.stop();
    await this.rating.stop();
    await this.outbox.stop();
    await this.producer.stop();
    await this.pool.end();
  }
}

@Module({})
export class BillingModule {
  static register(config: BillingConfig, kafka: Kafka, producer: BatchingProducer): DynamicModule {
    return {
      module: BillingModule,
      imports: [ObservabilityModule],
      controllers: [
        RecordReadingsConsumer,
        RecordTimelineConsumer,
        RecordFleetConsumer,
        StatementsController,
        CloseMonthController,
        OpenApiController,
      ],
      providers: [
        { provide: BILLING_CONFIG, useValue: config },
        { provide: PRODUCER, useValue: producer },
        { provide: 'KAFKA', useValue: kafka },
        { provide: OPERATOR_API_TOKENS, useValue: config.BILLING_API_TOKENS ?? [] },
        { provide: CONSUMPTION_TARIFFS, useFactory: () => loadConsumptionTariffs(config) },
        {
          provide: PG_POOL,
          useFactory: () =>
            createPool(config.DATABASE_URL, 'billing', 6 + config.BILLING_RATING_WORKERS),
        },
        ApiAuthGuard,
        LedgerBatch,
        RatingService,
        OutboxPublisher,
        StatementsRepository,
        AuditRepository,
        CloseMonthService,
        SweepMonthsService,
        BillingLifecycle,
      ],
    };
  }
}
