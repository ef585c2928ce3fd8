import { Inject, Injectable } from '@nestjs/common';
import type { CarrierCatalogue } from '@meterlink/contracts';
import { withTransaction, type Pool } from '@meterlink/postgres';
import { PG_POOL } from '../tokens';
import { MetersRepository } from '../meters/meters.repository';
import { FleetPublisherService } from '../fleet-publisher/fleet-publisher.service';

/** Carrier catalogue import: carriers, tariffs and per-region contracts, upserted as a whole. */
@Injectable()
export class ImportCatalogueService {
  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    private readonly meters: MetersRepository,
    private readonly publisher: FleetPublisherService,
  ) {}

  async import(
    catalogue: CarrierCatalogue,
    actor: string,
  ): Promise<{ carriers: number; regions: number }> {
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
      await this.meters.audit(
        actor,
        'catalogue.import',
        'catalogue',
        {
          carriers: catalogue.carriers.map((c) => c.carrierId),
          regions: catalogue.regions.map((r) => r.region),
        },
        client,
      );
    });
    await this.publisher.publishCatalogue(catalogue.carriers, catalogue.regions);
    return { carriers: catalogue.carriers.length, regions: catalogue.regions.length };
  }
}
