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

const METER_COLUMNS = `m.meter_id, m.eid, m.kind, m.region, m.customer_id, m.tariff_id,
  m.report_interval_s, m.signed_telemetry, m.rollback_window_s, m.fallback_delay_s,
  m.device_public_jwk, m.status, m.revision, m.broker_provisioned`;
const SELECT_METERS = `
  SELECT ${METER_COLUMNS}, (SELECT json_agg(json_build_object('iccid', p.iccid, 'carrierId', p.carrier_id, 'state', p.state, 'fallback', p.fallback) ORDER BY p.iccid)
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

/**
 * One index lookup per key of a batch. `= ANY($1)` with a thousand keys makes the planner choose
 * a sequential or hash scan of the whole table (measured: 60-90 ms per batch at 120,000 meters,
 * growing with the fleet); a LATERAL subquery with LIMIT 1 is never flattened into a join, so
 * each key is one primary-key or unique-index probe (4 ms per batch).
 */
const byKey = (key: string, columns: string, table: string): string =>
  `SELECT ${columns} FROM registry.${table} WHERE ${key} = u.${key} LIMIT 1`;

/** The fleet record of a meter just inserted from its manifest line, as the database now holds it. */
export function newMeterRecord(
  line: ManifestLine,
  at = new Date().toISOString(),
): FleetMeterRecord {
  return {
    eventId: newEventId(),
    type: 'fleet.meter',
    at,
    meterId: line.meterId,
    eid: line.eid,
    kind: line.kind,
    region: line.region,
    customerId: line.customerId,
    tariffId: line.tariffId,
    reportIntervalS: line.reportIntervalS,
    signedTelemetry: line.signedTelemetry,
    rollbackWindowS: line.rollbackWindowS,
    fallbackDelayS: line.fallbackDelayS,
    devicePublicKeyJwk: line.devicePublicKeyJwk,
    status: 'active',
    // The order the database gives them in (ORDER BY iccid).
    profiles: [...line.profiles].sort((a, b) =>
      a.iccid < b.iccid ? -1 : a.iccid > b.iccid ? 1 : 0,
    ),
    revision: 1,
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

  /**
   * Inserts new meters and their profiles (with the broker verifier in password-file mode);
   * returns the ids inserted. A meter that exists by now (a concurrent import) is left untouched.
   */
  async insertNew(
    client: PoolClient,
    lines: ManifestLine[],
    importId: string,
    verifiers?: Map<string, string>,
  ): Promise<Set<string>> {
    if (lines.length === 0) return new Set();
    const { rows } = await client.query<{ meter_id: string }>(
      `INSERT INTO registry.meters (meter_id, eid, kind, region, customer_id, tariff_id, report_interval_s, signed_telemetry,
                                    rollback_window_s, fallback_delay_s, device_public_jwk, broker_verifier, import_id)
       SELECT *, $2::uuid FROM jsonb_to_recordset($1::jsonb) AS x(meter_id text, eid text, kind text, region text, customer_id text, tariff_id text,
              report_interval_s int, signed_telemetry boolean, rollback_window_s int, fallback_delay_s int, device_public_jwk jsonb,
              broker_verifier text)
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
            broker_verifier: verifiers?.get(l.meterId) ?? null,
          })),
        ),
        importId,
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

  /** What an import needs to know about meters that may exist already. */
  async importState(
    client: PoolClient,
    meterIds: string[],
  ): Promise<
    Map<string, { eid: string; active: boolean; provisioned: boolean; hasVerifier: boolean }>
  > {
    const { rows } = await client.query<{
      meter_id: string;
      eid: string;
      status: string;
      broker_provisioned: boolean;
      has_verifier: boolean;
    }>(
      `SELECT m.* FROM unnest($1::text[]) AS u(meter_id) CROSS JOIN LATERAL (${byKey(
        'meter_id',
        'meter_id, eid, status, broker_provisioned, broker_verifier IS NOT NULL AS has_verifier',
        'meters',
      )}) m`,
      [meterIds],
    );
    return new Map(
      rows.map((r) => [
        r.meter_id,
        {
          eid: r.eid,
          active: r.status === 'active',
          provisioned: r.broker_provisioned,
          hasVerifier: r.has_verifier,
        },
      ]),
    );
  }

  /** Which of these meters exist (one index probe each). */
  async existingIds(meterIds: string[]): Promise<Set<string>> {
    const { rows } = await this.pool.query<{ meter_id: string }>(
      `SELECT m.* FROM unnest($1::text[]) AS u(meter_id) CROSS JOIN LATERAL (${byKey('meter_id', 'meter_id', 'meters')}) m`,
      [meterIds],
    );
    return new Set(rows.map((r) => r.meter_id));
  }

  /**
   * Password-file mode: the meters' fleet records are out, so their verifiers may go into the
   * broker's password file. A meter without a verifier yet (stored in dynsec mode) gets the one
   * given here. Only broker_provisioned and non-indexed columns change: a HOT update.
   */
  async markProvisionedWithVerifiers(verifiers: Map<string, string>): Promise<void> {
    if (verifiers.size === 0) return;
    await this.pool.query(
      `UPDATE registry.meters m SET broker_verifier = COALESCE(m.broker_verifier, v.verifier),
         broker_provisioned = true, updated_at = now()
       FROM unnest($1::text[], $2::text[]) AS v(meter_id, verifier)
       WHERE m.meter_id = v.meter_id AND m.status = 'active'`,
      [[...verifiers.keys()], [...verifiers.values()]],
    );
  }

  async existingEids(client: PoolClient, eids: string[]): Promise<Map<string, string>> {
    const { rows } = await client.query<{ eid: string; meter_id: string }>(
      `SELECT m.* FROM unnest($1::text[]) AS u(eid) CROSS JOIN LATERAL (${byKey('eid', 'eid, meter_id', 'meters')}) m`,
      [eids],
    );
    return new Map(rows.map((r) => [r.eid, r.meter_id]));
  }

  async existingIccids(client: PoolClient, iccids: string[]): Promise<Map<string, string>> {
    const { rows } = await client.query<{ iccid: string; meter_id: string }>(
      `SELECT p.* FROM unnest($1::text[]) AS u(iccid) CROSS JOIN LATERAL (${byKey('iccid', 'iccid, meter_id', 'profiles')}) p`,
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

  async decommission(meterId: string, client: Pool | PoolClient = this.pool): Promise<boolean> {
    const { rowCount } = await client.query(
      `UPDATE registry.meters SET status = 'decommissioned', revision = revision + 1, broker_provisioned = false,
         broker_verifier = NULL, updated_at = now()
       WHERE meter_id = $1 AND status = 'active'`,
      [meterId],
    );
    return (rowCount ?? 0) > 0;
  }
}
