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
import { BatchingProducer, producerHealth } from '@meterlink/kafka';
import { HealthRegistry } from '@meterlink/observability';
import { createRedis, redisHealth, type Redis } from '@meterlink/redis';
import { ObservabilityModule } from '@meterlink/service-kit';
import type { CoverageConfig } from './config';
import { COVERAGE_CONFIG, FLEET_VIEW, PRODUCER, REDIS } from './tokens';
import { CoverageStateRepository } from './coverage-state.repository';
import { CoverageEventsPublisher } from './coverage-events.publisher';
import { TrackSignalConsumer } from './track-signal/track-signal.consumer';
import { TrackSignalService } from './track-signal/track-signal.service';
import { DetectSilenceService } from './detect-silence/detect-silence.service';

@Injectable()
class CoverageLifecycle
  implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown
{
  constructor(
    @Inject(PRODUCER) private readonly producer: BatchingProducer,
    @Inject(FLEET_VIEW) private readonly fleet: FleetView,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly silence: DetectSilenceService,
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
    this.silence.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.silence.stop();
  }

  /** After Nest stopped the Kafka transport, the connections its handlers used. */
  async onApplicationShutdown(): Promise<void> {
    await this.producer.stop();
    await this.fleet.stop();
    await this.redis.quit();
  }
}

@Module({})
export class CoverageMonitorModule {
  static register(config: CoverageConfig, kafka: Kafka, producer: BatchingProducer): DynamicModule {
    return {
      module: CoverageMonitorModule,
      imports: [ObservabilityModule],
      controllers: [TrackSignalConsumer],
      providers: [
        { provide: COVERAGE_CONFIG, useValue: config },
        { provide: PRODUCER, useValue: producer },
        { provide: FLEET_VIEW, useFactory: () => new FleetView(kafka, 'coverage-monitor') },
        { provide: REDIS, useFactory: () => createRedis(config.REDIS_URL, 'coverage-monitor') },
        CoverageStateRepository,
        CoverageEventsPublisher,
        TrackSignalService,
        DetectSilenceService,
        CoverageLifecycle,
      ],
    };
  }
}
