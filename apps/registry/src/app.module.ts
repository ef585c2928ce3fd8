import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import {
  Inject,
  Injectable,
  Module,
  type OnApplicationShutdown,
  type DynamicModule,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { type BatchingProducer, ensureTopics } from '@meterlink/kafka';
import { HealthRegistry } from '@meterlink/observability';
import { createPool, migrateOwnedSchema, pingPostgres, type Pool } from '@meterlink/postgres';
import { FileDeviceCaStore } from '@meterlink/device-pki';
import { createLogger } from '@meterlink/observability';
import type { RegistryConfig } from './config';
import { KAFKA, PG_POOL, PRODUCER, REGISTRY_CONFIG } from './tokens';
import { ApiAuthGuard, ObservabilityModule, OPERATOR_API_TOKENS } from '@meterlink/service-kit';
import { DynsecClient } from './broker/dynsec.client';
import { BrokerCredentialsService } from './broker/broker-credentials.service';
import { FleetPublisherService } from './fleet-publisher/fleet-publisher.service';
import { ImportCatalogueService } from './import-catalogue/import-catalogue.service';
import { PasswordFileService } from './broker/password-file.service';
import { ImportsRepository } from './imports/imports.repository';
import { AuditLogRepository } from './audit/audit-log.repository';
import { DecommissionMeterService } from './decommission-meter/decommission-meter.service';
import { CatalogueController } from './catalogue/catalogue.controller';
import { CatalogueRepository } from './catalogue/catalogue.repository';
import { ImportsController } from './imports/imports.controller';
import { AuditController } from './audit/audit.controller';
import { OpenApiController } from './api/openapi.controller';
import { ImportController } from './import-manifest/import-manifest.controller';
import { ImportManifestService } from './import-manifest/import-manifest.service';
import { MetersController } from './meters/meters.controller';
import { MetersRepository } from './meters/meters.repository';
import { TrackInventoryConsumer } from './track-inventory/track-inventory.consumer';
import { TrackInventoryService } from './track-inventory/track-inventory.service';
import { DEVICE_CA_STORE } from './device-certificates/device-ca.tokens';
import { DeviceCertificatesRepository } from './device-certificates/device-certificates.repository';
import { DeviceCertificatesService } from './device-certificates/device-certificates.service';
import { CrlPublisherService } from './device-certificates/crl-publisher.service';
import {
  DeviceCertificatesController,
  PkiController,
} from './device-certificates/device-certificates.controller';
import type { Kafka } from 'kafkajs';
import type { Server } from 'node:http';
import { HttpAdapterHost } from '@nestjs/core';

export const REGISTRY_MIGRATIONS = join(__dirname, '..', 'migrations');
/** A running import updates its progress every 2 s; one silent this long was cut off. */
const INTERRUPTED_AFTER_S = 120;

@Injectable()
class RegistryLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(REGISTRY_CONFIG) private readonly config: RegistryConfig,
    @Inject(KAFKA) private readonly kafka: Kafka,
    @Inject(PRODUCER) private readonly producer: BatchingProducer,
    private readonly dynsec: DynsecClient,
    @Inject(DEVICE_CA_STORE) private readonly deviceCa: FileDeviceCaStore | null,
    private readonly crl: CrlPublisherService,
    private readonly passwordFile: PasswordFileService,
    private readonly imports: ImportsRepository,
    private readonly audit: AuditLogRepository,
    private readonly http: HttpAdapterHost,
    health: HealthRegistry,
  ) {
    health.register('postgres', () => pingPostgres(pool));
    health.register('kafka', () =>
      producer.isConnected() ? { ok: true } : { ok: false, detail: 'producer disconnected' },
    );
    health.register('broker-admin', () =>
      dynsec.isConnected() ? { ok: true } : { ok: false, detail: 'not connected' },
    );
    if (deviceCa) health.register('device-crl', () => crl.health());
    if (passwordFile.enabled) health.register('broker-password-file', () => passwordFile.health());
  }

  async onApplicationBootstrap(): Promise<void> {
    await migrateOwnedSchema(
      this.pool,
      this.config.DATABASE_OWNER_URL,
      { schema: 'registry', folder: REGISTRY_MIGRATIONS, appendOnlyTables: ['audit_log'] },
      createLogger('RegistryLifecycle'),
    );
    // The registry owns the fleet topics; creating missing contract topics here keeps a fresh
    // cluster usable without a separate step (existing topics are left alone).
    await ensureTopics(this.kafka);
    await this.producer.connect();
    await this.dynsec.connect();
    // Every import ends with one audit entry; one cut off by a crash gets it here.
    for (const cut of await this.imports.markInterrupted(INTERRUPTED_AFTER_S)) {
      createLogger('RegistryLifecycle').warn({ importId: cut.importId }, 'import cut off');
      await this.audit.append(cut.actor, `${cut.kind}.import`, cut.importId, {
        status: 'interrupted',
        lines: cut.lines,
        imported: cut.imported,
        unchanged: cut.unchanged,
        rejected: cut.rejected,
      });
    }
    // The file follows the database: whatever a crash or a restore left, it is current from here.
    await this.passwordFile.render();
    // A manifest upload is read only as fast as it is imported, so a million-line import takes
    // minutes; Node's default requestTimeout (5 min) would cut it off.
    const server = this.http.httpAdapter.getHttpServer() as Server;
    server.requestTimeout = 0;
    if (this.deviceCa) {
      const ca = await this.deviceCa.load();
      createLogger('RegistryLifecycle').info(
        { dir: this.deviceCa.dir, keyId: ca.keyId, notAfter: ca.notAfter, created: ca.created },
        ca.created ? 'created a new device CA' : 'device CA loaded',
      );
      await this.crl.start();
    }
  }

  /** After the HTTP server closed, so an import in progress finishes first. */
  async onApplicationShutdown(): Promise<void> {
    this.crl.stop();
    this.passwordFile.stop();
    await this.producer.stop();
    await this.dynsec.close();
    await this.pool.end();
  }
}

@Module({})
export class RegistryModule {
  static register(config: RegistryConfig, kafka: Kafka, producer: BatchingProducer): DynamicModule {
    return {
      module: RegistryModule,
      imports: [ObservabilityModule],
      controllers: [
        ImportController,
        MetersController,
        DeviceCertificatesController,
        PkiController,
        CatalogueController,
        ImportsController,
        AuditController,
        OpenApiController,
        TrackInventoryConsumer,
      ],
      providers: [
        { provide: REGISTRY_CONFIG, useValue: config },
        { provide: KAFKA, useValue: kafka },
        { provide: PRODUCER, useValue: producer },
        { provide: PG_POOL, useFactory: () => createPool(config.DATABASE_URL, 'registry') },
        {
          provide: DynsecClient,
          useFactory: () =>
            new DynsecClient({
              url: config.MQTT_URL,
              username: config.MQTT_ADMIN_USERNAME,
              password: config.MQTT_ADMIN_PASSWORD,
              clientId: `meterlink-registry-${randomUUID()}`,
              maxInFlight: config.DYNSEC_MAX_IN_FLIGHT,
            }),
        },
        {
          provide: DEVICE_CA_STORE,
          useFactory: () =>
            config.DEVICE_CA_DIR
              ? new FileDeviceCaStore(config.DEVICE_CA_DIR, {
                  createIfMissing: true,
                  commonName: config.DEVICE_CA_NAME,
                  validityDays: config.DEVICE_CA_VALIDITY_DAYS,
                })
              : null,
        },
        { provide: OPERATOR_API_TOKENS, useValue: config.REGISTRY_API_TOKENS },
        ApiAuthGuard,
        MetersRepository,
        ImportsRepository,
        AuditLogRepository,
        CatalogueRepository,
        PasswordFileService,
        DecommissionMeterService,
        DeviceCertificatesRepository,
        DeviceCertificatesService,
        CrlPublisherService,
        FleetPublisherService,
        BrokerCredentialsService,
        ImportManifestService,
        ImportCatalogueService,
        TrackInventoryService,
        RegistryLifecycle,
      ],
    };
  }
}
