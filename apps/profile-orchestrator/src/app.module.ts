import { join } from 'node:path';
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
import { CoverageStatsView, FleetView } from '@meterlink/fleet-view';
import { producerHealth, type BatchingProducer } from '@meterlink/kafka';
import { createLogger, HealthRegistry } from '@meterlink/observability';
import { createPool, migrateOwnedSchema, pingPostgres, type Pool } from '@meterlink/postgres';
import { ApiAuthGuard, ObservabilityModule, OPERATOR_API_TOKENS } from '@meterlink/service-kit';
import type { OrchestratorConfig } from './config';
import {
  COVERAGE_STATS,
  FLEET_VIEW,
  ORCHESTRATOR_CONFIG,
  PG_POOL,
  PRODUCER,
  SMDP_CLIENT,
} from './tokens';
import { EIM_KEY_STORE } from './eim-keys/eim-key.tokens';
import { FileEimKeyStore } from './eim-keys/eim-key.store';
import { JwksController } from './eim-keys/jwks.controller';
import { OutboxPublisher } from './outbox/outbox.publisher';
import { SwapsRepository } from './swaps.repository';
import { SwapSagaService } from './swap-saga.service';
import { StartSwapConsumer } from './start-swap/start-swap.consumer';
import { HandleEsipaConsumer } from './handle-esipa/handle-esipa.consumer';
import { ConfirmSwapConsumer } from './confirm-swap/confirm-swap.consumer';
import { ActiveSwapsCache } from './confirm-swap/active-swaps.cache';
import { ExpireSwapsService } from './expire-swaps/expire-swaps.service';
import { SmdpClient } from './smdp/smdp.client';
import { CampaignsService } from './campaigns/campaigns.service';
import {
  AuditController,
  CampaignsController,
  MeterSwapsController,
  RegionCoverageController,
  OpenApiController,
} from './api/operator-api.controller';

export const ORCHESTRATOR_MIGRATIONS = join(__dirname, '..', 'migrations');

@Injectable()
class OrchestratorLifecycle
  implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown
{
  constructor(
    @Inject(ORCHESTRATOR_CONFIG) private readonly config: OrchestratorConfig,
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(PRODUCER) private readonly producer: BatchingProducer,
    @Inject(FLEET_VIEW) private readonly fleet: FleetView,
    @Inject(COVERAGE_STATS) private readonly coverage: CoverageStatsView,
    @Inject(EIM_KEY_STORE) private readonly keys: FileEimKeyStore,
    private readonly outbox: OutboxPublisher,
    private readonly active: ActiveSwapsCache,
    private readonly expiry: ExpireSwapsService,
    private readonly campaigns: CampaignsService,
    health: HealthRegistry,
  ) {
    health.register('postgres', () => pingPostgres(pool));
    health.register('kafka', () => producerHealth(producer));
    health.register('fleet-view', () =>
      fleet.isCaughtUp() ? { ok: true } : { ok: false, detail: 'replaying' },
    );
  }

  async onApplicationBootstrap(): Promise<void> {
    await migrateOwnedSchema(
      this.pool,
      this.config.DATABASE_OWNER_URL,
      { schema: 'orchestrator', folder: ORCHESTRATOR_MIGRATIONS, appendOnlyTables: ['audit_log'] },
      createLogger('OrchestratorLifecycle'),
    );
    await this.keys.load();
    await this.producer.connect();
    await this.fleet.start();
    await this.fleet.waitUntilCaughtUp();
    await this.coverage.start();
    await this.coverage.waitUntilCaughtUp();
    await this.active.refresh();
    this.active.start(500);
    this.outbox.start();
    this.expiry.start();
    this.campaigns.start();
  }

  beforeApplicationShutdown(): void {
    this.expiry.stop();
    this.campaigns.stopDriver();
    this.active.stop();
  }

  /** After Nest stopped the Kafka transport: drain the outbox, then close connections. */
  async onApplicationShutdown(): Promise<void> {
    await this.outbox.stop();
    await this.producer.stop();
    await this.fleet.stop();
    await this.coverage.stop();
    await this.pool.end();
  }
}

@Module({})
export class ProfileOrchestratorModule {
  static register(
    config: OrchestratorConfig,
    kafka: Kafka,
    producer: BatchingProducer,
  ): DynamicModule {
    return {
      module: ProfileOrchestratorModule,
      imports: [ObservabilityModule],
      controllers: [
        JwksController,
        StartSwapConsumer,
        HandleEsipaConsumer,
        ConfirmSwapConsumer,
        CampaignsController,
        MeterSwapsController,
        RegionCoverageController,
        AuditController,
        OpenApiController,
      ],
      providers: [
        { provide: ORCHESTRATOR_CONFIG, useValue: config },
        { provide: PRODUCER, useValue: producer },
        {
          provide: PG_POOL,
          useFactory: () => createPool(config.DATABASE_URL, 'profile-orchestrator'),
        },
        { provide: FLEET_VIEW, useFactory: () => new FleetView(kafka, 'profile-orchestrator') },
        {
          provide: COVERAGE_STATS,
          useFactory: () => new CoverageStatsView(kafka, 'profile-orchestrator'),
        },
        {
          provide: EIM_KEY_STORE,
          useFactory: () => new FileEimKeyStore(config.EIM_KEY_FILE, config.EIM_NEXT_KEY_FILE),
        },
        { provide: OPERATOR_API_TOKENS, useValue: config.ORCHESTRATOR_API_TOKENS ?? [] },
        ApiAuthGuard,
        {
          provide: SMDP_CLIENT,
          useFactory: () =>
            new SmdpClient({
              urlTemplate: config.SMDP_URL_TEMPLATE,
              requesterId: config.EIM_ID,
              timeoutMs: config.SMDP_TIMEOUT_MS,
            }),
        },
        CampaignsService,
        SwapsRepository,
        OutboxPublisher,
        SwapSagaService,
        ActiveSwapsCache,
        ExpireSwapsService,
        OrchestratorLifecycle,
      ],
    };
  }
}
