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
import { BatchingProducer, producerHealth } from '@meterlink/kafka';
import { HealthRegistry, createLogger } from '@meterlink/observability';
import { createRedis, redisHealth, type Redis } from '@meterlink/redis';
import { ObservabilityModule } from '@meterlink/service-kit';
import type { CoverageConfig } from './config';
import { COVERAGE_CONFIG, KAFKA, METER_DIRECTORY, PRODUCER, REDIS, STATE_LAYOUT } from './tokens';
import { MeterDirectory } from './fleet/meter-directory';
import { LeadershipService } from './leadership.service';
import { CoverageEventsPublisher } from './publish/coverage-events.publisher';
import { PendingRecoveryService } from './publish/pending-recovery.service';
import { CoverageStateRepository } from './state/coverage-state.repository';
import { DictionaryRepository } from './state/dictionary.repository';
import { StateLayout } from './state/layout';
import { MeterUpdatesService } from './state/meter-updates.service';
import { OutageMarksCache } from './state/outage-marks.cache';
import { TrackSignalConsumer } from './track-signal/track-signal.consumer';
import { TrackSignalService } from './track-signal/track-signal.service';
import { DetectSilenceService } from './detect-silence/detect-silence.service';
import { CarrierStatesRepository } from './correlate-outages/carrier-states.repository';
import { CorrelateOutagesService } from './correlate-outages/correlate-outages.service';

@Injectable()
class CoverageLifecycle
  implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown
{
  private readonly log = createLogger('CoverageLifecycle');

  constructor(
    @Inject(PRODUCER) private readonly producer: BatchingProducer,
    @Inject(METER_DIRECTORY) private readonly fleet: MeterDirectory,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly states: CoverageStateRepository,
    private readonly dictionary: DictionaryRepository,
    private readonly marks: OutageMarksCache,
    private readonly leadership: LeadershipService,
    private readonly recovery: PendingRecoveryService,
    private readonly silence: DetectSilenceService,
    private readonly outages: CorrelateOutagesService,
    health: HealthRegistry,
  ) {
    health.register('kafka', () => producerHealth(producer));
    health.register('meter-directory', () =>
      fleet.isCaughtUp() ? { ok: true } : { ok: false, detail: 'replaying' },
    );
    health.register('redis', () => redisHealth(redis));
  }

  /** Runs before the Kafka consumer starts: nothing is applied until this is done. */
  async onApplicationBootstrap(): Promise<void> {
    await this.states.checkLayout();
    await this.dictionary.load();
    await this.marks.refresh();
    await this.producer.connect();
    await this.fleet.start();
    await this.fleet.waitUntilCaughtUp(10 * 60_000);
    await this.leadership.start();
    // What this replica's previous life stored but may not have published, before anything new.
    const recovered = await this.recovery.recoverOwn();
    if (recovered > 0) this.log.warn({ recovered }, 'published transitions left by a crash');
    this.silence.start();
    this.outages.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.outages.stop();
    await this.silence.stop();
  }

  /** After Nest stopped the Kafka transport, the connections its handlers used. */
  async onApplicationShutdown(): Promise<void> {
    await this.leadership.stop();
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
        { provide: KAFKA, useValue: kafka },
        { provide: PRODUCER, useValue: producer },
        {
          provide: METER_DIRECTORY,
          useFactory: () => new MeterDirectory(kafka, 'coverage-monitor'),
        },
        { provide: REDIS, useFactory: () => createRedis(config.REDIS_URL, 'coverage-monitor') },
        {
          provide: STATE_LAYOUT,
          useValue: new StateLayout({
            shards: config.COVERAGE_SHARDS,
            buckets: config.COVERAGE_BUCKETS,
            slotMs: config.COVERAGE_WHEEL_SLOT_MS,
          }),
        },
        CoverageStateRepository,
        DictionaryRepository,
        OutageMarksCache,
        CoverageEventsPublisher,
        MeterUpdatesService,
        LeadershipService,
        PendingRecoveryService,
        TrackSignalService,
        DetectSilenceService,
        CarrierStatesRepository,
        CorrelateOutagesService,
        CoverageLifecycle,
      ],
    };
  }
}
