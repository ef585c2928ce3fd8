import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { uncataloguedCarriers, type CarrierCatalogue } from '@meterlink/contracts';
import { createLogger } from '@meterlink/observability';
import { withTransaction, type Pool } from '@meterlink/postgres';
import { PG_POOL } from '../tokens';
import { FleetPublisherService } from '../fleet-publisher/fleet-publisher.service';
import { AuditLogRepository } from '../audit/audit-log.repository';
import { ImportsRepository, type ImportReport } from '../imports/imports.repository';

export interface CatalogueWarning {
  code: 'uncatalogued_carrier';
  region: string;
  carrierId: string;
  path: string;
  message: string;
}

export interface CatalogueImportResult {
  importId: string;
  carriers: number;
  regions: number;
  /** What was imported as it is but deserves a look (never a reason to refuse the catalogue). */
  warnings: CatalogueWarning[];
}

/**
 * Carrier catalogue import: carriers, tariffs and per-region contracts, upserted as a whole in
 * one transaction with its audit entry, then published on the fleet topics. Recorded as an
 * import (kind `catalogue`) like a manifest.
 */
@Injectable()
export class ImportCatalogueService {
  private readonly log = createLogger('ImportCatalogueService');

  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    private readonly imports: ImportsRepository,
    private readonly audit: AuditLogRepository,
    private readonly publisher: FleetPublisherService,
  ) {}

  async import(catalogue: CarrierCatalogue, actor: string): Promise<CatalogueImportResult> {
    const report: ImportReport = {
      importId: randomUUID(),
      kind: 'catalogue',
      status: 'running',
      actor,
      startedAt: new Date().toISOString(),
      lines: 0,
      imported: 0,
      unchanged: 0,
      rejected: 0,
      errors: [],
    };
    // provisioning.md's own sample names a carrier under contract that it does not describe.
    const warnings: CatalogueWarning[] = uncataloguedCarriers(catalogue).map((u) => ({
      code: 'uncatalogued_carrier',
      ...u,
      message: `region ${u.region} names carrier ${u.carrierId}, which the catalogue does not describe: kept under contract, never chosen as a download target until it is`,
    }));
    await this.imports.create(report);
    try {
      await withTransaction(this.pool, async (client) => {
        for (const c of catalogue.carriers) {
          await client.query(
            `INSERT INTO registry.carriers (carrier_id, name, plmns, smdp_address, tariff) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (carrier_id) DO UPDATE SET name = EXCLUDED.name, plmns = EXCLUDED.plmns, smdp_address = EXCLUDED.smdp_address,
               tariff = EXCLUDED.tariff, updated_at = now()`,
            [c.carrierId, c.name, c.plmns, c.smdpAddress, JSON.stringify(c.tariff)],
          );
        }
        for (const r of catalogue.regions) {
          await client.query(
            `INSERT INTO registry.regions (region, carriers) VALUES ($1, $2)
             ON CONFLICT (region) DO UPDATE SET carriers = EXCLUDED.carriers, updated_at = now()`,
            [r.region, r.carriers],
          );
        }
        await this.audit.append(
          actor,
          'catalogue.import',
          'catalogue',
          {
            importId: report.importId,
            carriers: catalogue.carriers.map((c) => ({
              carrierId: c.carrierId,
              tariff: c.tariff,
            })),
            regions: catalogue.regions,
            ...(warnings.length > 0 ? { warnings } : {}),
          },
          client,
        );
      });
      await this.publisher.publishCatalogue(catalogue.carriers, catalogue.regions);
      report.status = 'completed';
    } catch (error) {
      report.status = 'failed';
      report.failure = error instanceof Error ? error.message : String(error);
      throw error;
    } finally {
      report.finishedAt = new Date().toISOString();
      report.detail = {
        carriers: catalogue.carriers.length,
        regions: catalogue.regions.length,
        ...(warnings.length > 0 ? { warnings } : {}),
      };
      report.imported = catalogue.carriers.length + catalogue.regions.length;
      await this.imports.finish(report);
    }
    if (warnings.length > 0)
      this.log.warn({ importId: report.importId, warnings }, 'catalogue imported with warnings');
    return {
      importId: report.importId,
      carriers: catalogue.carriers.length,
      regions: catalogue.regions.length,
      warnings,
    };
  }
}
