import {
  Inject,
  Injectable,
  Module,
  type BeforeApplicationShutdown,
  type DynamicModule,
  type OnApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import type { Kafka } from 'kafkajs';
import { FleetView } from '@meterlink/fleet-view';
import { producerHealth, type BatchingProducer } from '@meterlink/kafka';
import { HealthRegistry, createLogger } from '@meterlink/observability';
import { createRedis, redisHealth, type Redis } from '@meterlink/redis';
import { ObservabilityModule } from '@meterlink/service-kit';
import type { IngestionConfig } from './config';
import { FLEET_VIEW, INGESTION_CONFIG, KAFKA, PRODUCER, REDIS } from './tokens';
import { DedupeRepository } from './uplink/dedupe.repository';
import { UplinkConsumer } from './uplink/uplink.consumer';
import { UplinkService } from './uplink/uplink.service';
import { DownlinkConsumer } from './downlink/downlink.consumer';
import { DownlinkService } from './downlink/downlink.service';

/** Starts dependencies before the MQTT intake opens, and closes the intake first on shutdown. */
@Injectable()
class IngestionLifecycle
  implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown
{
  private readonly log = createLogger('IngestionLifecycle');
  constructor(
    @Inject(PRODUCER) private readonly producer: BatchingProducer,
    @Inject(FLEET_VIEW) private readonly fleet: FleetView,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly uplink: UplinkConsumer,
    health: HealthRegistry,
  ) {
    health.register('kafka', () => producerHealth(producer));
    health.register('fleet-view', () =>
      fleet.isCaughtUp() ? { ok: true } : { ok: false, detail: 'replaying' },
    );
    health.register('redis', () => redisHealth(redis));
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.producer.connect();
    await this.fleet.start();
    await this.fleet.waitUntilCaughtUp();
    await this.uplink.start();
    this.log.info('ingestion ready');
  }

  /** First the MQTT intake, so no new message starts. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.uplink.stop();
  }

  /** Then, after Nest stopped the Kafka transport, the connections its handlers used. */
  async onApplicationShutdown(): Promise<void> {
    await this.producer.stop();
    await this.fleet.stop();
    await this.redis.quit();
  }
}

@Module({})
export class IngestionModule {
  static register(
    config: IngestionConfig,
    kafka: Kafka,
    producer: BatchingProducer,
  ): DynamicModule {
    return {
      module: IngestionModule,
      imports: [ObservabilityModule],
      controllers: [DownlinkConsumer],
      providers: [
        { provide: INGESTION_CONFIG, useValue: config },
        { provide: KAFKA, useValue: kafka },
        { provide: PRODUCER, useValue: producer },
        { provide: FLEET_VIEW, useFactory: () => new FleetView(kafka, 'ingestion') },
        {
          provide: REDIS,
          useFactory: () => createRedis(config.REDIS_URL, 'ingestion', { autoPipelining: true }),
        },
        {
          provide: DedupeRepository,
          inject: [REDIS],
          useFactory: (redis: Redis) =>
            new DedupeRepository(
              redis,
              config.INGESTION_REPLICA_ID,
              config.INGESTION_DEDUPE_CLAIM_MS,
              config.INGESTION_DEDUPE_BATCH_SCRIPTS,
            ),
        },
        UplinkService,
        UplinkConsumer,
        DownlinkService,
        IngestionLifecycle,
      ],
    };
  }
}
