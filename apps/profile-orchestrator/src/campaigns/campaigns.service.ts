import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { CoverageEventRecord } from '@meterlink/contracts';
import type { FleetView } from '@meterlink/fleet-view';
import { counter, createLogger } from '@meterlink/observability';
import { withTransaction, type PoolClient } from '@meterlink/postgres';
import type { OrchestratorConfig } from '../config';
import { FLEET_VIEW, ORCHESTRATOR_CONFIG } from '../tokens';
import { SwapsRepository, type SwapRow } from '../swaps.repository';
import { SwapSagaService } from '../swap-saga.service';
import type { SwapCause } from '@meterlink/swap-policy';
import {
  applyCommand,
  emergencyStopPlan,
  initialState,
  nextStep,
  resolveGate,
  resolveWavePlan,
  type CampaignCommand,
  type PausedReason,
} from '@meterlink/campaign-policy';

const campaignEvents = counter('orchestrator_campaign_events_total', 'Campaign lifecycle events', [
  'event',
]);

export type CampaignState = 'pending-approval' | 'running' | 'paused' | 'completed' | 'stopped';
export type CampaignTrigger = 'operator' | 'carrier-outage';

export interface CampaignSelector {
  region?: string;
  meterIds?: string[];
  fromCarrierId?: string;
}

export interface NewCampaign {
  name: string;
  reason?: string;
  selector: CampaignSelector;
  targetCarrierId: string;
  waves?: { canarySize?: number; growthFactor?: number; maxWaveSize?: number };
  successRateGate?: number;
  errorThreshold?: number;
}

interface CampaignRow {
  campaign_id: string;
  name: string;
  reason: string | null;
  trigger: CampaignTrigger;
  state: CampaignState;
  paused_reason: string | null;
  selector: CampaignSelector;
  target_carrier_id: string;
  canary_size: number;
  growth_factor: number;
  max_wave_size: number;
  success_rate_gate: number;
  error_threshold: number;
  meter_count: number;
  current_wave: number;
  paused_wave_index: number | null;
  acknowledged_through_wave: number | null;
  created_by: string;
  approved_by: string | null;
  outage_id: string | null;
  created_at: Date;
}

interface WaveRow {
  index: number;
  size: string;
  started: string;
  completed: string;
  rolled_back: string;
  failed: string;
  expired: string;
  cancelled: string;
  skipped: string;
  in_flight: string;
  pending: string;
}

export interface WaveView {
  index: number;
  size: number;
  started: number;
  completed: number;
  rolledBack: number;
  failed: number;
  expired: number;
  cancelled: number;
  skipped: number;
  inFlight: number;
}

export interface CampaignView {
  campaignId: string;
  name: string;
  reason?: string;
  trigger: CampaignTrigger;
  state: CampaignState;
  pausedReason?: string;
  selector: CampaignSelector;
  targetCarrierId: string;
  meterCount: number;
  waves: WaveView[];
  totals: {
    completed: number;
    rolledBack: number;
    failed: number;
    expired: number;
    cancelled: number;
    skipped: number;
    inFlight: number;
    pending: number;
  };
  createdBy: string;
  approvedBy?: string;
  createdAt: string;
}

/** An operator request that cannot be honoured, with a stable code for the API's 4xx. */
export class CampaignError extends Error {
  constructor(
    readonly status: 400 | 403 | 404 | 409 | 422,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const ACTIVE_SWAP_STATES = ['requested', 'dispatched', 'confirming'];

/**
 * Campaigns: a set of meters moved to one carrier in waves that grow from a canary, with gates
 * that pause the campaign, an emergency stop and approval for large ones. Everything lives in
 * PostgreSQL; a tick drives the running campaigns (FOR UPDATE SKIP LOCKED), and each member's
 * swap is created in the same transaction that marks the member started, so a killed
 * orchestrator resumes where it stopped and never sends a meter a second package.
 */
@Injectable()
export class CampaignsService {
  private readonly log = createLogger('CampaignsService');
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    @Inject(ORCHESTRATOR_CONFIG) private readonly config: OrchestratorConfig,
    @Inject(FLEET_VIEW) private readonly fleet: FleetView,
    private readonly swaps: SwapsRepository,
    private readonly saga: SwapSagaService,
  ) {}

  // ---- creation

  async create(input: NewCampaign, actor: string): Promise<CampaignView> {
    const id = await this.saga.tx((client) =>
      this.insertCampaign(client, input, actor, 'operator', null),
    );
    return (await this.get(id))!;
  }

  private async insertCampaign(
    client: PoolClient,
    input: NewCampaign,
    actor: string,
    trigger: CampaignTrigger,
    outageId: string | null,
  ): Promise<string> {
    const target = this.fleet.carrier(input.targetCarrierId);
    if (!target)
      throw new CampaignError(422, 'unknown_carrier', `no carrier ${input.targetCarrierId}`);
    if (input.selector.region) {
      const inOutage = await this.swaps.carriersInOutage(client, input.selector.region);
      if (inOutage.has(input.targetCarrierId))
        throw new CampaignError(
          409,
          'target_in_outage',
          `${input.targetCarrierId} is in outage in ${input.selector.region}`,
        );
    }
    const meterIds = await this.select(client, input.selector, input.targetCarrierId);
    const campaignId = randomUUID();
    let waves, gate;
    try {
      waves = resolveWavePlan(input.waves);
      gate = resolveGate({
        ...(input.successRateGate !== undefined ? { successRateGate: input.successRateGate } : {}),
        ...(input.errorThreshold !== undefined ? { errorThreshold: input.errorThreshold } : {}),
      });
    } catch (error) {
      throw new CampaignError(400, 'invalid_campaign', (error as Error).message);
    }
    const state: CampaignState = initialState(
      meterIds.length,
      this.config.CAMPAIGN_APPROVAL_THRESHOLD,
    );
    await client.query(
      `INSERT INTO orchestrator.campaigns (campaign_id, name, reason, trigger, state, selector, target_carrier_id,
         canary_size, growth_factor, max_wave_size, success_rate_gate, error_threshold, meter_count, created_by, outage_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
      [
        campaignId,
        input.name,
        input.reason ?? null,
        trigger,
        state,
        JSON.stringify(input.selector),
        input.targetCarrierId,
        waves.canarySize,
        waves.growthFactor,
        waves.maxWaveSize,
        gate.successRateGate,
        gate.errorThreshold,
        meterIds.length,
        actor,
        outageId,
      ],
    );
    await client.query(
      `INSERT INTO orchestrator.campaign_meters (campaign_id, meter_id, position)
       SELECT $1, m, p::int - 1 FROM unnest($2::text[]) WITH ORDINALITY AS x(m, p)`,
      [campaignId, meterIds],
    );
    await this.swaps.audit(client, {
      actor,
      action: 'campaign.created',
      campaignId,
      detail: {
        name: input.name,
        trigger,
        state,
        selector: input.selector,
        targetCarrierId: input.targetCarrierId,
        meterCount: meterIds.length,
        ...(input.reason ? { reason: input.reason } : {}),
        ...(outageId ? { outageId } : {}),
      },
    });
    campaignEvents.inc({ event: 'created' });
    this.log.info({ campaignId, trigger, state, meterCount: meterIds.length }, 'campaign created');
    return campaignId;
  }

  /** The selector's active meters not already on the target carrier (the eIM's inventory first). */
  private async select(
    client: PoolClient,
    selector: CampaignSelector,
    targetCarrierId: string,
  ): Promise<string[]> {
    const wanted = selector.meterIds ? new Set(selector.meterIds) : undefined;
    const candidates = [...this.fleet.allMeters()].filter(
      (m) =>
        m.status === 'active' &&
        (!selector.region || m.region === selector.region) &&
        (!wanted || wanted.has(m.meterId)),
    );
    const { rows } = await client.query<{ meter_id: string; enabled_carrier: string | null }>(
      `SELECT meter_id, (SELECT p->>'carrierId' FROM jsonb_array_elements(profiles) p WHERE p->>'state' = 'enabled' LIMIT 1) AS enabled_carrier
       FROM orchestrator.inventory WHERE meter_id = ANY($1)`,
      [candidates.map((m) => m.meterId)],
    );
    const known = new Map(rows.map((r) => [r.meter_id, r.enabled_carrier]));
    return candidates
      .filter((m) => {
        const carrier = known.has(m.meterId)
          ? known.get(m.meterId)
          : m.profiles.find((p) => p.state === 'enabled')?.carrierId;
        return (
          carrier !== targetCarrierId &&
          carrier !== undefined &&
          carrier !== null &&
          (!selector.fromCarrierId || carrier === selector.fromCarrierId)
        );
      })
      .map((m) => m.meterId)
      .sort();
  }

  // ---- operator actions

  private async locked(client: PoolClient, campaignId: string): Promise<CampaignRow> {
    const { rows } = await client.query<CampaignRow>(
      'SELECT * FROM orchestrator.campaigns WHERE campaign_id = $1 FOR UPDATE',
      [campaignId],
    );
    if (!rows[0]) throw new CampaignError(404, 'no_such_campaign', `no campaign ${campaignId}`);
    return rows[0];
  }

  private async setState(
    client: PoolClient,
    c: CampaignRow,
    state: CampaignState,
    actor: string,
    fields: {
      paused_reason?: string | null;
      approved_by?: string;
      paused_wave_index?: number | null;
      acknowledged_through_wave?: number | null;
    } = {},
  ): Promise<void> {
    const sets = Object.entries(fields);
    await client.query(
      `UPDATE orchestrator.campaigns SET state = $2, updated_at = now()${sets
        .map(([k], i) => `, ${k} = $${i + 3}`)
        .join('')} WHERE campaign_id = $1`,
      [c.campaign_id, state, ...sets.map(([, v]) => v)],
    );
    await this.swaps.audit(client, {
      actor,
      action: `campaign.${state}`,
      campaignId: c.campaign_id,
      detail: { from: c.state, ...fields },
    });
    campaignEvents.inc({ event: state });
    this.log.info({ campaignId: c.campaign_id, state, ...fields }, 'campaign state changed');
  }

  /** approve, pause, resume: the transitions @meterlink/campaign-policy allows. */
  async command(
    campaignId: string,
    kind: Exclude<CampaignCommand['kind'], 'stop'>,
    actor: string,
  ): Promise<CampaignView> {
    await this.saga.tx(async (client) => {
      const c = await this.locked(client, campaignId);
      const outcome = applyCommand(
        {
          state: c.state,
          createdBy: c.created_by,
          pausedReason: (c.paused_reason as PausedReason | null) ?? null,
          pausedWaveIndex: c.paused_wave_index,
          acknowledgedThroughWave: c.acknowledged_through_wave,
        },
        { kind, actor },
      );
      if (!outcome.ok)
        throw outcome.code === 'approver_is_creator'
          ? new CampaignError(403, outcome.code, 'the approver must differ from the creator')
          : new CampaignError(
              409,
              `not_${kind === 'approve' ? 'pending_approval' : kind === 'pause' ? 'running' : 'paused'}`,
              `campaign is ${c.state}`,
            );
      await this.setState(client, c, outcome.state, actor, {
        ...(outcome.approvedBy ? { approved_by: outcome.approvedBy } : {}),
        ...(kind === 'pause' ? { paused_reason: 'operator', paused_wave_index: null } : {}),
        ...(kind === 'resume'
          ? {
              paused_reason: null,
              paused_wave_index: null,
              acknowledged_through_wave: outcome.acknowledgedThroughWave ?? null,
            }
          : {}),
      });
    });
    return (await this.get(campaignId))!;
  }

  /** Emergency stop: no new swap; swaps whose enable package is not out yet are cancelled. */
  async stop(campaignId: string, actor: string, reason = 'operator'): Promise<CampaignView> {
    await this.saga.tx((client) => this.stopLocked(client, campaignId, actor, reason));
    return (await this.get(campaignId))!;
  }

  private async stopLocked(
    client: PoolClient,
    campaignId: string,
    actor: string,
    reason: string,
  ): Promise<void> {
    const c = await this.locked(client, campaignId);
    const outcome = applyCommand(
      {
        state: c.state,
        createdBy: c.created_by,
        pausedReason: null,
        pausedWaveIndex: null,
        acknowledgedThroughWave: c.acknowledged_through_wave,
      },
      { kind: 'stop', actor },
    );
    if (!outcome.ok) throw new CampaignError(409, 'already_finished', `campaign is ${c.state}`);
    await this.setState(client, c, 'stopped', actor, { paused_reason: reason });
    await client.query(
      `UPDATE orchestrator.campaign_meters SET status = 'cancelled', skip_reason = 'campaign_stopped'
       WHERE campaign_id = $1 AND status = 'pending'`,
      [campaignId],
    );
    const { rows } = await client.query<SwapRow>(
      `SELECT * FROM orchestrator.swaps WHERE campaign_id = $1 AND state = ANY($2) FOR UPDATE`,
      [campaignId, ACTIVE_SWAP_STATES],
    );
    // Swaps whose enable package is out stay with the meter (its rollback window protects it).
    const plan = emergencyStopPlan(
      rows.map((s) => ({
        swapId: s.swap_id,
        settled: false,
        enableDelivered: s.state !== 'requested',
        downloadOrderOpen: s.to_iccid !== null && s.needs_download,
      })),
    );
    for (const { swapId } of plan.cancel) {
      const swap = rows.find((s) => s.swap_id === swapId)!;
      await this.saga.cancel(client, swap, { reasonCode: 'campaign_stopped' });
    }
  }

  // ---- views

  async list(): Promise<CampaignView[]> {
    const { rows } = await this.swaps.pool.query<{ campaign_id: string }>(
      'SELECT campaign_id FROM orchestrator.campaigns ORDER BY created_at DESC LIMIT 200',
    );
    const views = await Promise.all(rows.map((r) => this.get(r.campaign_id)));
    return views.filter((v): v is CampaignView => v !== undefined);
  }

  async get(campaignId: string): Promise<CampaignView | undefined> {
    const pool = this.swaps.pool;
    const { rows } = await pool.query<CampaignRow>(
      'SELECT * FROM orchestrator.campaigns WHERE campaign_id = $1',
      [campaignId],
    );
    const c = rows[0];
    if (!c) return undefined;
    const waves = (await this.waveCounts(pool, campaignId)).map((w) => ({
      index: w.index,
      size: w.size,
      started: w.started,
      completed: w.completed,
      rolledBack: w.rolledBack,
      failed: w.failed,
      expired: w.expired,
      cancelled: w.cancelled,
      skipped: w.skipped,
      inFlight: w.inFlight,
    }));
    const { rows: pendingRows } = await pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM orchestrator.campaign_meters WHERE campaign_id = $1 AND status = 'pending'`,
      [campaignId],
    );
    const unassignedCancelled = await pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM orchestrator.campaign_meters WHERE campaign_id = $1 AND wave_index IS NULL AND status = 'cancelled'`,
      [campaignId],
    );
    const sum = (k: keyof WaveView): number => waves.reduce((a, w) => a + w[k], 0);
    return {
      campaignId: c.campaign_id,
      name: c.name,
      ...(c.reason ? { reason: c.reason } : {}),
      trigger: c.trigger,
      state: c.state,
      ...(c.paused_reason ? { pausedReason: c.paused_reason } : {}),
      selector: c.selector,
      targetCarrierId: c.target_carrier_id,
      meterCount: c.meter_count,
      waves,
      totals: {
        completed: sum('completed'),
        rolledBack: sum('rolledBack'),
        failed: sum('failed'),
        expired: sum('expired'),
        cancelled: sum('cancelled') + Number(unassignedCancelled.rows[0]?.n ?? 0),
        skipped: sum('skipped'),
        inFlight: sum('inFlight'),
        pending: Number(pendingRows[0]?.n ?? 0),
      },
      createdBy: c.created_by,
      ...(c.approved_by ? { approvedBy: c.approved_by } : {}),
      createdAt: c.created_at.toISOString(),
    };
  }

  /** Members that can still be put in a wave or were: those cancelled by a stop before any wave are not. */
  private async memberCount(client: PoolClient, campaignId: string): Promise<number> {
    const { rows } = await client.query<{ n: string }>(
      `SELECT count(*) AS n FROM orchestrator.campaign_meters WHERE campaign_id = $1 AND (wave_index IS NOT NULL OR status = 'pending')`,
      [campaignId],
    );
    return Number(rows[0]?.n ?? 0);
  }

  private async waveCounts(
    db: PoolClient | SwapsRepository['pool'],
    campaignId: string,
  ): Promise<(WaveView & { pending: number })[]> {
    const { rows } = await db.query<WaveRow>(
      `SELECT cm.wave_index AS index, count(*) AS size,
         count(*) FILTER (WHERE cm.swap_id IS NOT NULL) AS started,
         count(*) FILTER (WHERE s.state = 'completed') AS completed,
         count(*) FILTER (WHERE s.state = 'rolled-back') AS rolled_back,
         count(*) FILTER (WHERE s.state = 'failed') AS failed,
         count(*) FILTER (WHERE s.state = 'expired') AS expired,
         count(*) FILTER (WHERE s.state = 'cancelled' OR cm.status = 'cancelled') AS cancelled,
         count(*) FILTER (WHERE cm.status = 'skipped') AS skipped,
         count(*) FILTER (WHERE s.state = ANY($2)) AS in_flight,
         count(*) FILTER (WHERE cm.status = 'pending') AS pending
       FROM orchestrator.campaign_meters cm LEFT JOIN orchestrator.swaps s ON s.swap_id = cm.swap_id
       WHERE cm.campaign_id = $1 AND cm.wave_index IS NOT NULL
       GROUP BY cm.wave_index ORDER BY cm.wave_index`,
      [campaignId, ACTIVE_SWAP_STATES],
    );
    return rows.map((r) => ({
      index: Number(r.index),
      size: Number(r.size),
      started: Number(r.started),
      completed: Number(r.completed),
      rolledBack: Number(r.rolled_back),
      failed: Number(r.failed),
      expired: Number(r.expired),
      cancelled: Number(r.cancelled),
      skipped: Number(r.skipped),
      inFlight: Number(r.in_flight),
      pending: Number(r.pending),
    }));
  }

  // ---- carrier outages (coverage.events.v1)

  async onCarrierEvent(event: CoverageEventRecord): Promise<void> {
    if (event.type !== 'carrier.outage' && event.type !== 'carrier.recovered') return;
    const outageId = event.outageId ?? `${event.carrierId}/${event.region}/${event.at}`;
    await this.saga.tx(async (client) => {
      if (event.type === 'carrier.outage') {
        const startedAt = new Date(event.at);
        await client.query(
          `INSERT INTO orchestrator.carrier_outages (outage_id, carrier_id, region, started_at, campaign_due_at)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT (outage_id) DO NOTHING`,
          [
            outageId,
            event.carrierId,
            event.region,
            startedAt,
            new Date(startedAt.getTime() + this.config.OUTAGE_MIN_DURATION_S * 1000),
          ],
        );
        await this.swaps.audit(client, {
          actor: 'coverage-monitor',
          action: 'carrier.outage',
          detail: { outageId, carrierId: event.carrierId, region: event.region, at: event.at },
        });
        return;
      }
      const { rows } = await client.query<{ outage_id: string; campaign_id: string | null }>(
        `UPDATE orchestrator.carrier_outages SET recovered_at = $4,
           campaign_outcome = COALESCE(campaign_outcome, CASE WHEN campaign_id IS NULL THEN 'recovered_before_start' END)
         WHERE recovered_at IS NULL AND (outage_id = $1 OR (carrier_id = $2 AND region = $3))
         RETURNING outage_id, campaign_id`,
        [outageId, event.carrierId, event.region, new Date(event.at)],
      );
      for (const row of rows) {
        await this.swaps.audit(client, {
          actor: 'coverage-monitor',
          action: 'carrier.recovered',
          ...(row.campaign_id ? { campaignId: row.campaign_id } : {}),
          detail: { outageId: row.outage_id, carrierId: event.carrierId, region: event.region },
        });
        if (!row.campaign_id) continue;
        // Recovered before any of its swaps started: the campaign has nothing left to do.
        const { rows: started } = await client.query<{ n: string }>(
          `SELECT count(*) AS n FROM orchestrator.campaign_meters WHERE campaign_id = $1 AND swap_id IS NOT NULL`,
          [row.campaign_id],
        );
        const { rows: state } = await client.query<{ state: CampaignState }>(
          'SELECT state FROM orchestrator.campaigns WHERE campaign_id = $1',
          [row.campaign_id],
        );
        if (
          Number(started[0]?.n ?? 0) === 0 &&
          state[0] &&
          state[0].state !== 'stopped' &&
          state[0].state !== 'completed'
        )
          await this.stopLocked(client, row.campaign_id, 'eim:carrier-outage', 'carrier_recovered');
      }
    });
  }

  /** Outages that lasted OUTAGE_MIN_DURATION_S get their automatic campaign. */
  private async openOutageCampaigns(): Promise<void> {
    await this.saga.tx(async (client) => {
      const { rows } = await client.query<{
        outage_id: string;
        carrier_id: string;
        region: string;
      }>(
        `SELECT outage_id, carrier_id, region FROM orchestrator.carrier_outages
         WHERE recovered_at IS NULL AND campaign_id IS NULL AND campaign_outcome IS NULL AND campaign_due_at <= now()
         ORDER BY campaign_due_at LIMIT 5 FOR UPDATE SKIP LOCKED`,
      );
      for (const outage of rows) {
        const inOutage = await this.swaps.carriersInOutage(client, outage.region);
        // A region may name a carrier under contract that the catalogue does not describe yet
        // (provisioning.md's own sample does): no SM-DP+, no tariff, so never a campaign target.
        const target = (this.fleet.region(outage.region)?.carriers ?? []).find(
          (c) => c !== outage.carrier_id && !inOutage.has(c) && this.fleet.carrier(c) !== undefined,
        );
        let campaignId: string | null = null;
        let outcome: string | null = null;
        const selector = { region: outage.region, fromCarrierId: outage.carrier_id };
        if (!target) outcome = 'no_target_carrier';
        else if ((await this.select(client, selector, target)).length === 0) outcome = 'no_meters';
        else {
          campaignId = await this.insertCampaign(
            client,
            {
              name: `outage ${outage.carrier_id} ${outage.region}`,
              reason: `carrier.outage ${outage.outage_id}`,
              selector,
              targetCarrierId: target,
              waves: { canarySize: this.config.OUTAGE_CAMPAIGN_CANARY },
            },
            'eim:carrier-outage',
            'carrier-outage',
            outage.outage_id,
          );
        }
        await client.query(
          'UPDATE orchestrator.carrier_outages SET campaign_id = $2, campaign_outcome = $3 WHERE outage_id = $1',
          [outage.outage_id, campaignId, outcome ?? 'campaign_created'],
        );
      }
    });
  }

  // ---- the driver

  start(): void {
    const tick = (): void => {
      if (this.stopped) return;
      this.tick()
        .catch((error: unknown) => this.log.warn({ err: error }, 'campaign tick failed'))
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(tick, this.config.CAMPAIGN_TICK_MS);
        });
    };
    tick();
  }

  stopDriver(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  async tick(): Promise<void> {
    await this.openOutageCampaigns();
    const { rows } = await this.swaps.pool.query<{ campaign_id: string }>(
      `SELECT campaign_id FROM orchestrator.campaigns WHERE state = 'running' ORDER BY created_at`,
    );
    for (const { campaign_id } of rows) await this.drive(campaign_id);
  }

  /** One step of one campaign, in one transaction holding its row (other replicas skip it). */
  private async drive(campaignId: string): Promise<void> {
    await withTransaction(this.swaps.pool, async (client) => {
      const { rows } = await client.query<CampaignRow>(
        `SELECT * FROM orchestrator.campaigns WHERE campaign_id = $1 AND state = 'running' FOR UPDATE SKIP LOCKED`,
        [campaignId],
      );
      const c = rows[0];
      if (!c) return;
      const waves = await this.waveCounts(client, campaignId);
      const current = waves.find((w) => w.index === c.current_wave);
      const step = nextStep(
        {
          state: c.state,
          meterCount: await this.memberCount(client, campaignId),
          // Members skipped at start (already on the target, another swap) settle without an outcome.
          waves: waves.map((w) => ({
            size: w.size,
            completed: w.completed,
            rolledBack: w.rolledBack,
            failed: w.failed,
            expired: w.expired,
            cancelled: w.cancelled + w.skipped,
          })),
          acknowledgedThroughWave: c.acknowledged_through_wave,
        },
        {
          waves: {
            canarySize: c.canary_size,
            growthFactor: c.growth_factor,
            maxWaveSize: c.max_wave_size,
          },
          gate: resolveGate({
            successRateGate: c.success_rate_gate,
            errorThreshold: c.error_threshold,
          }),
        },
      );
      if (step.action === 'pause') {
        await this.setState(client, c, 'paused', 'eim:campaign-gate', {
          paused_reason: step.reason,
          paused_wave_index: step.waveIndex,
        });
        return;
      }
      // The current wave's swaps are started a batch per tick.
      if (current && current.pending > 0) {
        await this.startMembers(client, c, c.current_wave);
        return;
      }
      if (step.action === 'complete') {
        await this.setState(client, c, 'completed', 'eim:campaign');
        return;
      }
      if (step.action !== 'start-wave') return;
      const next = step.index;
      const size = step.size;
      await client.query(
        `UPDATE orchestrator.campaign_meters SET wave_index = $2
         WHERE campaign_id = $1 AND meter_id IN (
           SELECT meter_id FROM orchestrator.campaign_meters
           WHERE campaign_id = $1 AND wave_index IS NULL AND status = 'pending' ORDER BY position LIMIT $3)`,
        [campaignId, next, size],
      );
      await client.query(
        'UPDATE orchestrator.campaigns SET current_wave = $2, updated_at = now() WHERE campaign_id = $1',
        [campaignId, next],
      );
      await this.swaps.audit(client, {
        actor: 'eim:campaign',
        action: 'campaign.wave-started',
        campaignId,
        detail: { wave: next, size },
      });
      await this.startMembers(client, { ...c, current_wave: next }, next);
    });
    this.saga.pokeOutbox();
  }

  private async startMembers(client: PoolClient, c: CampaignRow, wave: number): Promise<void> {
    const { rows } = await client.query<{ meter_id: string }>(
      `SELECT meter_id FROM orchestrator.campaign_meters
       WHERE campaign_id = $1 AND wave_index = $2 AND status = 'pending' ORDER BY position LIMIT $3`,
      [c.campaign_id, wave, this.config.CAMPAIGN_START_BATCH],
    );
    const outages = new Map<string, Set<string>>();
    // An operator's campaign names its target; an outage's campaign lets the policy choose per meter.
    let cause: SwapCause = {
      kind: 'operator',
      targetCarrierId: c.target_carrier_id,
      campaignId: c.campaign_id,
    };
    if (c.trigger === 'carrier-outage' && c.outage_id) {
      const { rows: outage } = await client.query<{ carrier_id: string; started_at: Date }>(
        'SELECT carrier_id, started_at FROM orchestrator.carrier_outages WHERE outage_id = $1',
        [c.outage_id],
      );
      if (outage[0])
        cause = {
          kind: 'carrier-outage',
          outage: {
            outageId: c.outage_id,
            carrierId: outage[0].carrier_id,
            openedAt: outage[0].started_at.getTime(),
          },
        };
    }
    for (const { meter_id: meterId } of rows) {
      const skip = async (reason: string): Promise<void> => {
        await client.query(
          `UPDATE orchestrator.campaign_meters SET status = 'skipped', skip_reason = $3 WHERE campaign_id = $1 AND meter_id = $2`,
          [c.campaign_id, meterId, reason],
        );
      };
      const meter = this.fleet.meter(meterId);
      if (!meter || meter.status !== 'active') {
        await skip('meter_not_active');
        continue;
      }
      if (!outages.has(meter.region))
        outages.set(meter.region, await this.swaps.carriersInOutage(client, meter.region));
      if (cause.kind === 'operator' && outages.get(meter.region)!.has(c.target_carrier_id)) {
        await this.setState(client, c, 'paused', 'eim:campaign-gate', {
          paused_reason: 'target_in_outage',
        });
        return;
      }
      const inventory = await this.saga.inventory(client, meterId);
      if (!inventory) {
        await skip('no_inventory');
        continue;
      }
      if (await this.swaps.activeSwap(client, meterId)) {
        await skip('swap_in_progress');
        continue;
      }
      const target = await this.saga.decide(client, meter, inventory, cause);
      if (target.action === 'none') {
        await skip(target.reason);
        continue;
      }
      const swap = await this.saga.startSwap(client, inventory, {
        meterId,
        trigger: c.trigger === 'carrier-outage' ? 'carrier-outage' : 'operator',
        fromIccid: target.fromIccid,
        fromCarrierId: target.fromCarrierId,
        toCarrierId: target.toCarrierId,
        ...(target.toIccid ? { toIccid: target.toIccid } : {}),
        requestedBy: c.created_by,
        campaignId: c.campaign_id,
        detail: { wave, approvedBy: c.approved_by, decision: target.facts },
      });
      await client.query(
        `UPDATE orchestrator.campaign_meters SET status = 'started', swap_id = $3 WHERE campaign_id = $1 AND meter_id = $2`,
        [c.campaign_id, meterId, swap.swap_id],
      );
    }
  }
}
