import { Inject, Injectable } from '@nestjs/common';
import type { Carrier, RegionContract } from '@meterlink/contracts';
import type { Pool } from '@meterlink/postgres';
import { PG_POOL } from '../tokens';

export type CarrierView = Carrier & { updatedAt: string };
export type RegionView = RegionContract & { updatedAt: string };

interface CarrierRow {
  carrier_id: string;
  name: string;
  plmns: string[];
  smdp_address: string;
  tariff: Carrier['tariff'];
  updated_at: Date;
}
interface RegionRow {
  region: string;
  carriers: string[];
  updated_at: Date;
}

const toCarrier = (r: CarrierRow): CarrierView => ({
  carrierId: r.carrier_id,
  name: r.name,
  plmns: r.plmns,
  smdpAddress: r.smdp_address,
  tariff: r.tariff,
  updatedAt: r.updated_at.toISOString(),
});
const toRegion = (r: RegionRow): RegionView => ({
  region: r.region,
  carriers: r.carriers,
  updatedAt: r.updated_at.toISOString(),
});

/** The carrier catalogue as imported: carriers with their tariffs, and region contracts. */
@Injectable()
export class CatalogueRepository {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  async carriers(carrierId?: string): Promise<CarrierView[]> {
    const { rows } = await this.pool.query<CarrierRow>(
      `SELECT carrier_id, name, plmns, smdp_address, tariff, updated_at FROM registry.carriers
       ${carrierId === undefined ? '' : 'WHERE carrier_id = $1'} ORDER BY carrier_id`,
      carrierId === undefined ? [] : [carrierId],
    );
    return rows.map(toCarrier);
  }

  async regions(region?: string): Promise<RegionView[]> {
    const { rows } = await this.pool.query<RegionRow>(
      `SELECT region, carriers, updated_at FROM registry.regions
       ${region === undefined ? '' : 'WHERE region = $1'} ORDER BY region`,
      region === undefined ? [] : [region],
    );
    return rows.map(toRegion);
  }
}
