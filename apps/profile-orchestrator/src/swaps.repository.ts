import { Inject, Injectable } from '@nestjs/common';
import {
  TOPICS,
  stableEventId,
  type EsipaDownlinkMessage,
  type EsipaOutboundRecord,
  type ProfileSwapRecord,
  type SwapState,
  type SwapTrigger,
} from '@meterlink/contracts';
import { newEventId } from '@meterlink/kafka';
import type { Pool, PoolClient } from '@meterlink/postgres';
import type { InventoryProfile } from '@meterlink/swap-policy';
import { PG_POOL } from './tokens';
import type { HistoryRow } from './policy/target';
import type {
  CellCoverageRow,
  CoverageState,
  CoverageStateChange,
  RadioReport,
} from './policy/meter-radio';

export type InternalSwapState = SwapState | 'confirming';
export const ACTIVE_STATES: InternalSwapState[] = ['requested', 'dispatched', 'confirming'];

/** The internal step of a swap (migrations/002): extra to its public state. */
export type SwapPhase = 'ordering' | 'downloading' | 'enabling' | 'confirming';

export interface SwapRow {
  swap_id: string;
  meter_id: string;
  eid: string;
  trigger: SwapTrigger;
  state: InternalSwapState;
  phase: SwapPhase;
  needs_download: boolean;
  from_iccid: string;
  /** null while the SM-DP+ has not allocated the downloaded profile's ICCID yet. */
  to_iccid: string | null;
  from_carrier_id: string;
  to_carrier_id: string;
  eim_transaction_id: string | null;
  counter_value: string | null;
  package_jws: string | null;
  reason_code: string | null;
  traffic_seen_at: Date | null;
  deadline: Date | null;
  created_at: Date;
  matching_id: string | null;
  activation_code: string | null;
  download_transaction_id: string | null;
  next_attempt_at: Date | null;
  attempts: number;
  cancel_order_pending: boolean;
  campaign_id: string | null;
  requested_by: string | null;
  /** false until the `requested` record could be published (it needs the target ICCID). */
  published_requested: boolean;
}

/** What a new swap needs; the rest starts empty. */
export type NewSwap = Pick<
  SwapRow,
  | 'swap_id'
  | 'meter_id'
  | 'eid'
  | 'trigger'
  | 'state'
  | 'phase'
  | 'needs_download'
  | 'from_iccid'
  | 'to_iccid'
  | 'from_carrier_id'
  | 'to_carrier_id'
  | 'deadline'
  | 'next_attempt_at'
  | 'campaign_id'
  | 'requested_by'
  | 'published_requested'
> & { cause_event_id: string | null; traffic_seen_at?: Date | null };

export interface InventoryRow {
  meter_id: string;
  eid: string;
  enabled_iccid: string;
  profiles: InventoryProfile[];
}

type Db = Pool | PoolClient;

export interface AuditRow {
  audit_id: string;
  at: Date;
  actor: string;
  action: string;
  meter_id: string | null;
  eid: string | null;
  swap_id: string | null;
  campaign_id: string | null;
  detail: Record<string, unknown>;
}

/** SQL for swaps, counters, inventory, outbox and audit. Methods take the transaction client. */
@Injectable()
export class SwapsRepository {
  constructor(@Inject(PG_POOL) readonly pool: Pool) {}

  async activeSwap(db: Db, meterId: string, forUpdate = false): Promise<SwapRow | undefined> {
    const { rows } = await db.query<SwapRow>(
      `SELECT * FROM orchestrator.swaps WHERE meter_id = $1 AND state = ANY($2) ${forUpdate ? 'FOR UPDATE' : ''}`,
      [meterId, ACTIVE_STATES],
    );
    return rows[0];
  }

  async byTransaction(db: Db, eimTransactionId: string): Promise<SwapRow | undefined> {
    const { rows } = await db.query<SwapRow>(
      'SELECT * FROM orchestrator.swaps WHERE eim_transaction_id = $1 FOR UPDATE',
      [eimTransactionId],
    );
    return rows[0];
  }

  async byDownloadTransaction(db: Db, transactionId: string): Promise<SwapRow | undefined> {
    const { rows } = await db.query<SwapRow>(
      'SELECT * FROM orchestrator.swaps WHERE download_transaction_id = $1 FOR UPDATE',
      [transactionId],
    );
    return rows[0];
  }

  async byId(db: Db, swapId: string, forUpdate = false): Promise<SwapRow | undefined> {
    const { rows } = await db.query<SwapRow>(
      `SELECT * FROM orchestrator.swaps WHERE swap_id = $1 ${forUpdate ? 'FOR UPDATE' : ''}`,
      [swapId],
    );
    return rows[0];
  }

  async byCause(db: Db, causeEventId: string): Promise<SwapRow | undefined> {
    const { rows } = await db.query<SwapRow>(
      'SELECT * FROM orchestrator.swaps WHERE cause_event_id = $1',
      [causeEventId],
    );
    return rows[0];
  }

  async history(
    db: Db,
    meterId: string,
    sinceMs: number,
  ): Promise<{ fromCarrierId: string; toCarrierId: string; at: number }[]> {
    const { rows } = await db.query<{
      from_carrier_id: string;
      to_carrier_id: string;
      updated_at: Date;
    }>(
      `SELECT from_carrier_id, to_carrier_id, updated_at FROM orchestrator.swaps
       WHERE meter_id = $1 AND state = 'completed' AND updated_at > to_timestamp($2 / 1000.0)`,
      [meterId, sinceMs],
    );
    return rows.map((r) => ({
      fromCarrierId: r.from_carrier_id,
      toCarrierId: r.to_carrier_id,
      at: r.updated_at.getTime(),
    }));
  }

  /** The meter's settled swaps since then, for the policy (cooldown, anti-flap, battery budget). */
  async policyHistory(db: Db, meterId: string, sinceMs: number): Promise<HistoryRow[]> {
    const { rows } = await db.query<HistoryRow>(
      `SELECT from_carrier_id, to_carrier_id, state, phase, needs_download, trigger, updated_at FROM orchestrator.swaps
       WHERE meter_id = $1 AND state <> ALL($2) AND updated_at > to_timestamp($3 / 1000.0)`,
      [meterId, ACTIVE_STATES, sinceMs],
    );
    return rows;
  }

  async outageStartedAt(db: Db, outageId: string): Promise<Date | undefined> {
    const { rows } = await db.query<{ started_at: Date }>(
      'SELECT started_at FROM orchestrator.carrier_outages WHERE outage_id = $1',
      [outageId],
    );
    return rows[0]?.started_at;
  }

  async insertSwap(db: Db, swap: NewSwap): Promise<void> {
    await db.query(
      `INSERT INTO orchestrator.swaps (swap_id, meter_id, eid, trigger, state, phase, needs_download, from_iccid, to_iccid,
         from_carrier_id, to_carrier_id, deadline, next_attempt_at, campaign_id, requested_by, published_requested, cause_event_id, traffic_seen_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
      [
        swap.swap_id,
        swap.meter_id,
        swap.eid,
        swap.trigger,
        swap.state,
        swap.phase,
        swap.needs_download,
        swap.from_iccid,
        swap.to_iccid,
        swap.from_carrier_id,
        swap.to_carrier_id,
        swap.deadline,
        swap.next_attempt_at,
        swap.campaign_id,
        swap.requested_by,
        swap.published_requested,
        swap.cause_event_id,
        swap.traffic_seen_at ?? null,
      ],
    );
  }

  async update(
    db: Db,
    swapId: string,
    fields: Partial<
      Pick<
        SwapRow,
        | 'state'
        | 'eim_transaction_id'
        | 'package_jws'
        | 'reason_code'
        | 'traffic_seen_at'
        | 'deadline'
        | 'phase'
        | 'to_iccid'
        | 'matching_id'
        | 'activation_code'
        | 'download_transaction_id'
        | 'next_attempt_at'
        | 'attempts'
        | 'cancel_order_pending'
        | 'published_requested'
      > & { counter_value: number }
    >,
  ): Promise<void> {
    const entries = Object.entries(fields);
    const sets = entries.map(([k], i) => `${k} = $${i + 2}`).join(', ');
    await db.query(`UPDATE orchestrator.swaps SET ${sets}, updated_at = now() WHERE swap_id = $1`, [
      swapId,
      ...entries.map(([, v]) => v),
    ]);
  }

  /** Strictly increasing per eUICC; taken inside the transaction that stores the package. */
  async nextCounter(db: Db, eid: string): Promise<number> {
    const { rows } = await db.query<{ counter_value: string }>(
      `INSERT INTO orchestrator.eim_counters (eid, counter_value) VALUES ($1, 1)
       ON CONFLICT (eid) DO UPDATE SET counter_value = orchestrator.eim_counters.counter_value + 1
       RETURNING counter_value`,
      [eid],
    );
    return Number(rows[0]!.counter_value);
  }

  async inventory(db: Db, meterId: string): Promise<InventoryRow | undefined> {
    const { rows } = await db.query<InventoryRow>(
      'SELECT meter_id, eid, enabled_iccid, profiles FROM orchestrator.inventory WHERE meter_id = $1',
      [meterId],
    );
    return rows[0];
  }

  async saveInventory(db: Db, row: InventoryRow): Promise<void> {
    await db.query(
      `INSERT INTO orchestrator.inventory (meter_id, eid, enabled_iccid, profiles) VALUES ($1, $2, $3, $4)
       ON CONFLICT (meter_id) DO UPDATE SET enabled_iccid = EXCLUDED.enabled_iccid, profiles = EXCLUDED.profiles, updated_at = now()`,
      [row.meter_id, row.eid, row.enabled_iccid, JSON.stringify(row.profiles)],
    );
  }

  /** Queues the public record of a swap's state, to be published in order by the outbox. */
  async recordState(
    db: Db,
    swap: SwapRow,
    state: SwapState,
    extra: { reasonCode?: string; correlationId?: string } = {},
  ): Promise<void> {
    const record: ProfileSwapRecord = {
      eventId: stableEventId('swap', swap.swap_id, state),
      type: 'profile.swap',
      at: new Date().toISOString(),
      ...(extra.correlationId ? { correlationId: extra.correlationId } : {}),
      causationId: swap.swap_id,
      swapId: swap.swap_id,
      meterId: swap.meter_id,
      fromIccid: swap.from_iccid,
      toIccid: swap.to_iccid ?? swap.from_iccid,
      fromCarrierId: swap.from_carrier_id,
      toCarrierId: swap.to_carrier_id,
      trigger: swap.trigger,
      state,
      ...(extra.reasonCode ? { reasonCode: extra.reasonCode } : {}),
      ...(swap.eim_transaction_id ? { eimTransactionId: swap.eim_transaction_id } : {}),
      phase: swap.phase,
      needsDownload: swap.needs_download,
      ...(swap.campaign_id ? { campaignId: swap.campaign_id } : {}),
    };
    await this.enqueue(db, TOPICS.profileSwaps.name, swap.meter_id, record);
  }

  async sendToMeter(
    db: Db,
    meterId: string,
    message: EsipaDownlinkMessage,
    expiresAt?: Date,
    correlationId?: string,
  ): Promise<void> {
    const record: EsipaOutboundRecord = {
      eventId: newEventId(),
      type: 'esipa.outbound',
      at: new Date().toISOString(),
      ...(correlationId ? { correlationId } : {}),
      meterId,
      message,
      ...(expiresAt ? { expiresAt: expiresAt.toISOString() } : {}),
    };
    await this.enqueue(db, TOPICS.esipaOutbound.name, meterId, record);
  }

  private async enqueue(db: Db, topic: string, key: string, value: object): Promise<void> {
    await db.query('INSERT INTO orchestrator.outbox (topic, key, value) VALUES ($1, $2, $3)', [
      topic,
      key,
      JSON.stringify(value),
    ]);
  }

  async audit(
    db: Db,
    entry: {
      actor: string;
      action: string;
      meterId?: string;
      eid?: string;
      swapId?: string;
      campaignId?: string | null;
      detail?: Record<string, unknown>;
    },
  ): Promise<void> {
    await db.query(
      'INSERT INTO orchestrator.audit_log (actor, action, meter_id, eid, swap_id, campaign_id, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)',
      [
        entry.actor,
        entry.action,
        entry.meterId ?? null,
        entry.eid ?? null,
        entry.swapId ?? null,
        entry.campaignId ?? null,
        JSON.stringify(entry.detail ?? {}),
      ],
    );
  }

  /**
   * Swaps whose ES2+ step is due (ordering, or a cancelOrder owed), claimed for `leaseMs`: a
   * crashed worker's claim lapses and the next attempt reuses the same functionCallIdentifier.
   */
  async claimOrderWork(db: Db, limit: number, leaseMs: number): Promise<SwapRow[]> {
    const { rows } = await db.query<SwapRow>(
      `UPDATE orchestrator.swaps SET next_attempt_at = now() + ($2 || ' milliseconds')::interval
       WHERE swap_id IN (
         SELECT swap_id FROM orchestrator.swaps WHERE next_attempt_at <= now()
         ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
       RETURNING *`,
      [limit, String(leaseMs)],
    );
    return rows;
  }

  /** A log of the download orders placed per carrier. */
  async recordOrder(db: Db, carrierId: string, swapId: string): Promise<void> {
    await db.query('INSERT INTO orchestrator.smdp_orders (carrier_id, swap_id) VALUES ($1, $2)', [
      carrierId,
      swapId,
    ]);
  }

  /**
   * The batch's latest telemetry per meter, in one statement (it runs at the fleet's telemetry
   * rate, ~11,000 records/s for 10 M meters every 15 min). A stored row is rewritten only when
   * the report is newer (out-of-order records change nothing) and says something new: another
   * region, carrier or cell, RSRP moved by `rsrpStepDb` or more, a new battery charge, or the row
   * is older than `refreshS` (so a steady meter stays within the policy's peer window). A steady
   * meter is then rewritten about once per `refreshS` instead of every 15 min: most of the write
   * rate, and the dead tuples and WAL it makes, are saved. The price: a stored RSRP is within
   * `rsrpStepDb` of the meter's latest, and a late record may win over a newer one skipped for
   * saying nothing new (within the same step).
   */
  async saveRadio(
    db: Db,
    reports: readonly RadioReport[],
    opts: { rsrpStepDb: number; refreshS: number },
  ): Promise<void> {
    if (reports.length === 0) return;
    await db.query(
      `INSERT INTO orchestrator.meter_radio AS r
         (meter_id, region, carrier_id, cell_id, rsrp_dbm, battery_pct, telemetry_at)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::float8[], $7::timestamptz[])
       ON CONFLICT (meter_id) DO UPDATE SET
         region = EXCLUDED.region, carrier_id = EXCLUDED.carrier_id, cell_id = EXCLUDED.cell_id,
         rsrp_dbm = EXCLUDED.rsrp_dbm, battery_pct = coalesce(EXCLUDED.battery_pct, r.battery_pct),
         telemetry_at = EXCLUDED.telemetry_at
       WHERE r.telemetry_at IS NULL OR (EXCLUDED.telemetry_at > r.telemetry_at AND (
         r.telemetry_at <= EXCLUDED.telemetry_at - make_interval(secs => $9)
         OR r.region IS DISTINCT FROM EXCLUDED.region
         OR r.carrier_id IS DISTINCT FROM EXCLUDED.carrier_id
         OR r.cell_id IS DISTINCT FROM EXCLUDED.cell_id
         OR (r.rsrp_dbm IS NULL) <> (EXCLUDED.rsrp_dbm IS NULL)
         OR abs(r.rsrp_dbm - EXCLUDED.rsrp_dbm) >= $8
         OR (EXCLUDED.battery_pct IS NOT NULL AND r.battery_pct IS DISTINCT FROM EXCLUDED.battery_pct)))`,
      [
        reports.map((r) => r.meterId),
        reports.map((r) => r.region),
        reports.map((r) => r.carrierId),
        reports.map((r) => r.cellId),
        reports.map((r) => r.rsrpDbm),
        reports.map((r) => r.batteryPct),
        reports.map((r) => r.at),
        opts.rsrpStepDb,
        opts.refreshS,
      ],
    );
  }

  /** The batch's latest coverage state per meter; an older change than the stored one changes nothing. */
  async saveCoverageStates(db: Db, changes: readonly CoverageStateChange[]): Promise<void> {
    if (changes.length === 0) return;
    // Region and carrier come from telemetry when the meter has reported: the event's fill a new row.
    await db.query(
      `INSERT INTO orchestrator.meter_radio AS r (meter_id, region, carrier_id, coverage_state, state_at)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
       ON CONFLICT (meter_id) DO UPDATE SET
         coverage_state = EXCLUDED.coverage_state, state_at = EXCLUDED.state_at,
         region = coalesce(r.region, EXCLUDED.region), carrier_id = coalesce(r.carrier_id, EXCLUDED.carrier_id)
       WHERE r.state_at IS NULL OR r.state_at < EXCLUDED.state_at`,
      [
        changes.map((c) => c.meterId),
        changes.map((c) => c.region),
        changes.map((c) => c.carrierId),
        changes.map((c) => c.state),
        changes.map((c) => c.at),
      ],
    );
  }

  /**
   * Per carrier, the meters of the region in the meter's cell (its latest telemetry's), observed
   * (telemetry or state change) since `sinceMs`: the semantics of `summarizeCoverage` of
   * @meterlink/swap-policy (samples, lost, degraded, median RSRP of those not lost; a median of
   * an even count is the mean of the middle two). The meter itself is counted on `self.carrierId`
   * with `self.state` when given (its cause), whatever is stored. No rows (and no cellId) when
   * its cell is unknown.
   */
  async cellCoverage(
    db: Db,
    query: {
      meterId: string;
      region: string;
      sinceMs: number;
      self: { carrierId: string | null; state: CoverageState | null };
    },
  ): Promise<{ cellId: string | null; carriers: CellCoverageRow[] }> {
    const { rows } = await db.query<CellCoverageRow & { cell_id: string }>(
      `WITH me AS (
         SELECT cell_id FROM orchestrator.meter_radio WHERE meter_id = $1 AND cell_id IS NOT NULL
       ), peers AS (
         SELECT me.cell_id,
                CASE WHEN r.meter_id = $1 THEN coalesce($4, r.carrier_id) ELSE r.carrier_id END AS carrier_id,
                CASE WHEN r.meter_id = $1 THEN coalesce($5, r.coverage_state) ELSE r.coverage_state END AS state,
                r.rsrp_dbm
         FROM me JOIN orchestrator.meter_radio r ON r.region = $2 AND r.cell_id = me.cell_id
         WHERE r.meter_id = $1 OR greatest(r.telemetry_at, r.state_at) >= to_timestamp($3 / 1000.0)
       )
       SELECT cell_id, carrier_id, count(*)::int AS samples,
              count(*) FILTER (WHERE state = 'lost')::int AS lost,
              count(*) FILTER (WHERE state = 'degraded')::int AS degraded,
              percentile_cont(0.5) WITHIN GROUP (ORDER BY rsrp_dbm) FILTER (WHERE state <> 'lost') AS median_rsrp_dbm
       FROM peers WHERE carrier_id IS NOT NULL
       GROUP BY cell_id, carrier_id ORDER BY carrier_id`,
      [query.meterId, query.region, query.sinceMs, query.self.carrierId, query.self.state],
    );
    return {
      cellId: rows[0]?.cell_id ?? null,
      carriers: rows.map((r) => ({
        carrier_id: r.carrier_id,
        samples: r.samples,
        lost: r.lost,
        degraded: r.degraded,
        median_rsrp_dbm: r.median_rsrp_dbm,
      })),
    };
  }

  async battery(db: Db, meterId: string): Promise<number | undefined> {
    const { rows } = await db.query<{ battery_pct: number | null }>(
      'SELECT battery_pct FROM orchestrator.meter_radio WHERE meter_id = $1',
      [meterId],
    );
    return rows[0]?.battery_pct ?? undefined;
  }

  async touchPresence(db: Db, meterId: string, nextExpectedAt: Date): Promise<void> {
    await db.query(
      `INSERT INTO orchestrator.meter_presence (meter_id, last_seen_at, next_expected_at) VALUES ($1, now(), $2)
       ON CONFLICT (meter_id) DO UPDATE SET last_seen_at = now(), next_expected_at = EXCLUDED.next_expected_at`,
      [meterId, nextExpectedAt],
    );
  }

  async presence(
    db: Db,
    meterId: string,
  ): Promise<{ last_seen_at: Date; next_expected_at: Date } | undefined> {
    const { rows } = await db.query<{ last_seen_at: Date; next_expected_at: Date }>(
      'SELECT last_seen_at, next_expected_at FROM orchestrator.meter_presence WHERE meter_id = $1',
      [meterId],
    );
    return rows[0];
  }

  /** Carriers with an open outage in a region: never a target. */
  async carriersInOutage(db: Db, region: string): Promise<Set<string>> {
    const { rows } = await db.query<{ carrier_id: string }>(
      'SELECT DISTINCT carrier_id FROM orchestrator.carrier_outages WHERE region = $1 AND recovered_at IS NULL',
      [region],
    );
    return new Set(rows.map((r) => r.carrier_id));
  }

  async listSwaps(
    db: Db,
    meterId: string,
    limit = 100,
  ): Promise<(SwapRow & { updated_at: Date })[]> {
    const { rows } = await db.query<SwapRow & { updated_at: Date }>(
      'SELECT * FROM orchestrator.swaps WHERE meter_id = $1 ORDER BY created_at DESC LIMIT $2',
      [meterId, limit],
    );
    return rows;
  }

  async auditPage(
    db: Db,
    filter: { meterId?: string; campaignId?: string; before?: number; limit: number },
  ): Promise<AuditRow[]> {
    const { rows } = await db.query<AuditRow>(
      `SELECT audit_id, at, actor, action, meter_id, eid, swap_id, campaign_id, detail FROM orchestrator.audit_log
       WHERE ($1::text IS NULL OR meter_id = $1) AND ($2::uuid IS NULL OR campaign_id = $2)
         AND ($3::bigint IS NULL OR audit_id < $3)
       ORDER BY audit_id DESC LIMIT $4`,
      [filter.meterId ?? null, filter.campaignId ?? null, filter.before ?? null, filter.limit],
    );
    return rows;
  }

  async dueSwaps(db: Db, limit: number): Promise<SwapRow[]> {
    const { rows } = await db.query<SwapRow>(
      `SELECT * FROM orchestrator.swaps WHERE state = ANY($1) AND deadline < now() ORDER BY deadline LIMIT $2 FOR UPDATE SKIP LOCKED`,
      [ACTIVE_STATES, limit],
    );
    return rows;
  }
}
