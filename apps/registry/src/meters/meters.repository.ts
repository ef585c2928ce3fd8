import { Inject, Injectable } from '@nestjs/common';
import type { FleetMeterRecord, ManifestLine, ManifestProfile } from '@meterlink/contracts';
import { newEventId } from '@meterlink/kafka';
import type { Pool, PoolClient } from '@meterlink/postgres';
import { PG_POOL } from '../tokens';

interface MeterRow {
  meter_id: string;
  eid: string;
  kind: FleetMeterRecord['kind'];
  region: string;
  customer_id: string;
  tariff_id: string;
  report_interval_s: number;
  signed_telemetry: boolean;
  rollback_window_s: number;
  fallback_delay_s: number;
  device_public_jwk: FleetMeterRecord['devicePublicKeyJwk'];
  status: FleetMeterRecord['status'];
  revision: string;
  broker_provisioned: boolean;
  profiles: ManifestProfile[] | null;
}

const SELECT_METERS = `
  SELECT m.*, (SELECT json_agg(json_build_object('iccid', p.iccid, 'carrierId', p.carrier_id, 'state', p.state, 'fallback', p.fallback) ORDER BY p.iccid)
               FROM registry.profiles p WHERE p.meter_id = m.meter_id) AS profiles
  FROM registry.meters m`;

export interface StoredMeter {
  record: FleetMeterRecord;
  brokerProvisioned: boolean;
}

function toStored(row: MeterRow): StoredMeter {
  return {
    brokerProvisioned: row.broker_provisioned,
    record: {
      eventId: newEventId(),
      type: 'fleet.meter',
      at: new Date().toISOString(),
      meterId: row.meter_id,
      eid: row.eid,
      kind: row.kind,
      region: row.region,
      customerId: row.customer_id,
      tariffId: row.tariff_id,
      reportIntervalS: row.report_interval_s,
      signedTelemetry: row.signed_telemetry,
      rollbackWindowS: row.rollback_window_s,
      fallbackDelayS: row.fallback_delay_s,
      devicePublicKeyJwk: row.device_public_jwk,
      status: row.status,
      profiles: row.profiles ?? [],
      revision: Number(row.revision),
    },
  };
}

@Injectable()
export class MetersRepository {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  async findMany(
    meterIds: string[],
    client: Pool | PoolClient = this.pool,
  ): Promise<Map<string, StoredMeter>> {
    if (meterIds.length === 0) return new Map();
    const { rows } = await client.query<MeterRow>(`${SELECT_METERS} WHERE m.meter_id = ANY($1)`, [
      meterIds,
    ]);
    return new Map(rows.map((r) => [r.meter_id, toStored(r)]));
  }

  async get(meterId: string): Promise<StoredMeter | undefined> {
    return (await this.findMany([meterId])).get(meterId);
  }

  async list(filter: {
    region?: string;
    carrierId?: string;
    status?: string;
    limit: number;
    after?: string;
  }): Promise<FleetMeterRecord[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.region) where.push(`m.region = $${args.push(filter.region)}`);
    if (filter.status) where.push(`m.status = $${args.push(filter.status)}`);
    if (filter.carrierId)
      where.push(
        `EXISTS (SELECT 1 FROM registry.profiles p WHERE p.meter_id = m.meter_id AND p.carrier_id = $${args.push(filter.carrierId)} AND p.state = 'enabled')`,
      );
    if (filter.after) where.push(`m.meter_id > $${args.push(filter.after)}`);
    const sql = `${SELECT_METERS} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY m.meter_id LIMIT $${args.push(filter.limit)}`;
    const { rows } = await this.pool.query<MeterRow>(sql, args);
    return rows.map((r) => toStored(r).record);
  }

  /** Inserts new meters and their profiles; returns the ids inserted (existing ones untouched). */
  async insertNew(client: PoolClient, lines: ManifestLine[]): Promise<Set<string>> {
    if (lines.length === 0) return new Set();
    const { rows } = await client.query<{ meter_id: string }>(
      `INSERT INTO registry.meters (meter_id, eid, kind, region, customer_id, tariff_id, report_interval_s, signed_telemetry,
                                    rollback_window_s, fallback_delay_s, device_public_jwk)
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(meter_id text, eid text, kind text, region text, customer_id text, tariff_id text,
              report_interval_s int, signed_telemetry boolean, rollback_window_s int, fallback_delay_s int, device_public_jwk jsonb)
       ON CONFLICT (meter_id) DO NOTHING
       RETURNING meter_id`,
      [
        JSON.stringify(
          lines.map((l) => ({
            meter_id: l.meterId,
            eid: l.eid,
            kind: l.kind,
            region: l.region,
            customer_id: l.customerId,
            tariff_id: l.tariffId,
            report_interval_s: l.reportIntervalS,
            signed_telemetry: l.signedTelemetry,
            rollback_window_s: l.rollbackWindowS,
            fallback_delay_s: l.fallbackDelayS,
            device_public_jwk: l.devicePublicKeyJwk,
          })),
        ),
      ],
    );
    const inserted = new Set(rows.map((r) => r.meter_id));
    const profiles = lines
      .filter((l) => inserted.has(l.meterId))
      .flatMap((l) =>
        l.profiles.map((p) => ({
          iccid: p.iccid,
          meter_id: l.meterId,
          carrier_id: p.carrierId,
          state: p.state,
          fallback: p.fallback,
        })),
      );
    if (profiles.length > 0) {
      await client.query(
        `INSERT INTO registry.profiles (iccid, meter_id, carrier_id, state, fallback)
         SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(iccid text, meter_id text, carrier_id text, state text, fallback boolean)`,
        [JSON.stringify(profiles)],
      );
    }
    return inserted;
  }

  async existingEids(client: PoolClient, eids: string[]): Promise<Map<string, string>> {
    const { rows } = await client.query<{ eid: string; meter_id: string }>(
      'SELECT eid, meter_id FROM registry.meters WHERE eid = ANY($1)',
      [eids],
    );
    return new Map(rows.map((r) => [r.eid, r.meter_id]));
  }

  async existingIccids(client: PoolClient, iccids: string[]): Promise<Map<string, string>> {
    const { rows } = await client.query<{ iccid: string; meter_id: string }>(
      'SELECT iccid, meter_id FROM registry.profiles WHERE iccid = ANY($1)',
      [iccids],
    );
    return new Map(rows.map((r) => [r.iccid, r.meter_id]));
  }

  async markProvisioned(meterIds: string[]): Promise<void> {
    if (meterIds.length === 0) return;
    await this.pool.query(
      'UPDATE registry.meters SET broker_provisioned = true, updated_at = now() WHERE meter_id = ANY($1)',
      [meterIds],
    );
  }

  async decommission(meterId: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `UPDATE registry.meters SET status = 'decommissioned', revision = revision + 1, broker_provisioned = false, updated_at = now()
       WHERE meter_id = $1 AND status = 'active'`,
      [meterId],
    );
    return (rowCount ?? 0) > 0;
  }

  async audit(
    actor: string,
    action: string,
    subject: string,
    detail: Record<string, unknown>,
    client: Pool | PoolClient = this.pool,
  ): Promise<void> {
    await client.query(
      'INSERT INTO registry.audit_log (actor, action, subject, detail) VALUES ($1, $2, $3, $4)',
      [actor, action, subject, JSON.stringify(detail)],
    );
  }
}
