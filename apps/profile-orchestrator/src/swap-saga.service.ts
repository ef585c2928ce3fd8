import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import {
  activationCode,
  eimPackageResultPayloadSchema,
  type CoverageEventRecord,
  type DeviceNotification,
  type EimPackagePayload,
  type EsipaInboundRecord,
  type FleetMeterRecord,
  type MeterConnectivityRecord,
  type ProfileDownloadResult,
  type SwapState,
  type SwapTrigger,
} from '@meterlink/contracts';
import type { CoverageStatsView, FleetView } from '@meterlink/fleet-view';
import { PublicKeyCache, signCompact, verifyCompact } from '@meterlink/jws';
import { counter, createLogger } from '@meterlink/observability';
import { withTransaction, type PoolClient } from '@meterlink/postgres';
import { rateLimit, takeTokens } from '@meterlink/campaign-policy';
import type { OrchestratorConfig } from './config';
import { COVERAGE_STATS, FLEET_VIEW, ORCHESTRATOR_CONFIG, SMDP_CLIENT } from './tokens';
import { EIM_KEY_STORE } from './eim-keys/eim-key.tokens';
import type { EimKeyStore } from './eim-keys/eim-key.store';
import { OutboxPublisher } from './outbox/outbox.publisher';
import { ActiveSwapsCache } from './confirm-swap/active-swaps.cache';
import {
  chooseTarget,
  type ChooseTargetDecision,
  type PolicyHistoryEntry,
  type SwapCause,
} from '@meterlink/swap-policy';
import {
  coverageOf,
  historyEntry,
  policyConfig,
  powerOf,
  tariffsOf,
  typicalMonthlyBytes,
} from './policy/target';
import { cellCoverageOf, selfStateOf } from './policy/meter-radio';
import { redact, retryDelayMs, type Es2Outcome, type SmdpClient } from './smdp/smdp.client';
import { ordersPerMinute } from './smdp/smdp-capacity';
import { SwapsRepository, type InventoryRow, type SwapRow } from './swaps.repository';
import { orderStep } from './smdp/order-step';

const decisions = counter('orchestrator_swap_decisions_total', 'Swap decisions', ['outcome']);
const swapStates = counter('orchestrator_swap_states_total', 'Swap state changes', [
  'state',
  'trigger',
]);
const invalidResults = counter(
  'orchestrator_invalid_results_total',
  'Package and download results refused (treated as not received)',
  ['reason'],
);
const duplicateResults = counter(
  'orchestrator_duplicate_results_total',
  'Results of a package or download already applied (retransmissions and replays): acknowledged, nothing changed',
  ['type'],
);
const es2Calls = counter('orchestrator_es2_calls_total', 'ES2+ calls to SM-DP+', [
  'function',
  'outcome',
]);

const rateLimited = counter(
  'orchestrator_smdp_rate_limited_total',
  'Download orders held back by the carrier SM-DP+ capacity (SMDP_ORDERS_PER_MIN)',
  ['carrier'],
);

type EsipaMessage = EsipaInboundRecord['message'];
type Extra = { reasonCode?: string; correlationId?: string };

/** Download results after which the order at the SM-DP+ is released with cancelOrder. */
const CANCEL_ORDER_AFTER: ReadonlySet<string> = new Set([
  'matchingIdRefused',
  'noEligibleProfile',
  'insufficientMemory',
]);

export interface StartSwapRequest {
  meterId: string;
  trigger: SwapTrigger;
  fromIccid: string;
  fromCarrierId: string;
  toCarrierId: string;
  /** Absent: the profile is downloaded from the carrier's SM-DP+ first. */
  toIccid?: string;
  requestedBy: string;
  campaignId?: string;
  causeEventId?: string;
  correlationId?: string;
  detail?: Record<string, unknown>;
}

/** Battery meters sleep between reports; mains meters are reachable at once (device-interface §2). */
const isSleepy = (meter: FleetMeterRecord): boolean => meter.kind !== 'electricity';

/**
 * The eIM's swap saga: target chosen → [ES2+ order at the carrier's SM-DP+ → download trigger →
 * installed] → enable package signed and dispatched → result verified → traffic seen on the new
 * profile → completed; or rolled-back, failed, expired, cancelled. Every step is one PostgreSQL
 * transaction that also writes the public record and any message for the meter to the outbox, so
 * a crash never leaves a state unpublished or a package half-sent. ES2+ calls happen between
 * transactions, claimed from stored next-attempt times, with idempotent call identifiers.
 */

/** A profile change the meter made or reported outside a swap the eIM is running. */
interface DeviceProfileChange {
  event: 'fallback' | 'rollback' | 'late-result';
  iccid: string;
  at: string;
}

const DEVICE_CHANGE_REASON: Record<DeviceProfileChange['event'], string> = {
  fallback: 'device_fallback',
  rollback: 'device_rollback',
  'late-result': 'late_package_result',
};

@Injectable()
export class SwapSagaService {
  private readonly log = createLogger('SwapSagaService');
  private readonly deviceKeys = new PublicKeyCache();

  constructor(
    @Inject(ORCHESTRATOR_CONFIG) private readonly config: OrchestratorConfig,
    @Inject(FLEET_VIEW) private readonly fleet: FleetView,
    @Inject(COVERAGE_STATS) private readonly coverage: CoverageStatsView,
    @Inject(EIM_KEY_STORE) private readonly keys: EimKeyStore,
    @Inject(SMDP_CLIENT) private readonly smdp: SmdpClient,
    private readonly swaps: SwapsRepository,
    private readonly outbox: OutboxPublisher,
    private readonly active: ActiveSwapsCache,
  ) {}

  pokeOutbox(): void {
    this.outbox.poke();
  }

  async tx<T>(fn: (client: PoolClient) => Promise<T>): Promise<T> {
    const result = await withTransaction(this.swaps.pool, fn);
    this.outbox.poke();
    return result;
  }

  /** The eIM's inventory of a meter, seeded from the registry's view the first time; locks the meter. */
  async inventory(client: PoolClient, meterId: string): Promise<InventoryRow | undefined> {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`meter:${meterId}`]);
    const stored = await this.swaps.inventory(client, meterId);
    if (stored) return stored;
    const meter = this.fleet.meter(meterId);
    const enabled = meter?.profiles.find((p) => p.state === 'enabled');
    if (!meter || !enabled) return undefined;
    const row: InventoryRow = {
      meter_id: meterId,
      eid: meter.eid,
      enabled_iccid: enabled.iccid,
      profiles: meter.profiles.map((p) => ({
        iccid: p.iccid,
        carrierId: p.carrierId,
        state: p.state,
      })),
    };
    await this.swaps.saveInventory(client, row);
    return row;
  }

  private async enable(client: PoolClient, inventory: InventoryRow, iccid: string): Promise<void> {
    await this.swaps.saveInventory(client, {
      ...inventory,
      enabled_iccid: iccid,
      profiles: inventory.profiles.map((p) => ({
        ...p,
        state: p.iccid === iccid ? 'enabled' : 'disabled',
      })),
    });
  }

  private async transition(
    client: PoolClient,
    swap: SwapRow,
    state: SwapState,
    extra: Extra = {},
  ): Promise<void> {
    await this.swaps.update(client, swap.swap_id, {
      state,
      next_attempt_at: swap.cancel_order_pending ? new Date() : null,
      ...(extra.reasonCode ? { reason_code: extra.reasonCode } : {}),
    });
    // A swap refused before the SM-DP+ named the target ICCID never had a public `requested`
    // record (it needs toIccid): its end is in the API and the audit log only.
    if (swap.published_requested) await this.swaps.recordState(client, swap, state, extra);
    await this.swaps.audit(client, {
      actor: 'eim',
      action: `swap.${state}`,
      meterId: swap.meter_id,
      eid: swap.eid,
      swapId: swap.swap_id,
      campaignId: swap.campaign_id,
      detail: {
        fromIccid: swap.from_iccid,
        toIccid: swap.to_iccid,
        toCarrierId: swap.to_carrier_id,
        trigger: swap.trigger,
        phase: swap.phase,
        requestedBy: swap.requested_by,
        ...(extra.reasonCode ? { reasonCode: extra.reasonCode } : {}),
      },
    });
    swapStates.inc({ state, trigger: swap.trigger });
    this.log.info(
      { swapId: swap.swap_id, meterId: swap.meter_id, state, reasonCode: extra.reasonCode },
      'swap state changed',
    );
  }

  /** Ends a swap early (emergency stop, device fallback): an order made at the SM-DP+ is released. */
  async cancel(client: PoolClient, swap: SwapRow, extra: Extra): Promise<void> {
    const ordered = swap.needs_download && swap.to_iccid !== null && swap.phase !== 'enabling';
    const cancelled = { ...swap, cancel_order_pending: ordered && swap.phase !== 'confirming' };
    if (cancelled.cancel_order_pending)
      await this.swaps.update(client, swap.swap_id, { cancel_order_pending: true });
    await this.transition(client, cancelled, 'cancelled', extra);
  }

  /** When a package or trigger queued now can reach the meter: its next poll, for sleepy ones. */
  async expectedBy(client: PoolClient, meter: FleetMeterRecord): Promise<number> {
    const now = Date.now();
    if (!isSleepy(meter)) return now;
    const presence = await this.swaps.presence(client, meter.meterId);
    const next = presence
      ? presence.next_expected_at.getTime()
      : now + meter.reportIntervalS * 1000;
    // A meter late for its poll may still come: give it one more interval.
    return next > now ? next : now + meter.reportIntervalS * 1000;
  }

  // ---- starting a swap (coverage, operator, campaign)

  /** Creates the swap and takes its first step. The caller holds the meter's lock (inventory()). */
  async startSwap(
    client: PoolClient,
    inventory: InventoryRow,
    req: StartSwapRequest,
  ): Promise<SwapRow> {
    const meter = this.fleet.meter(req.meterId);
    if (!meter) throw new Error(`meter ${req.meterId} not in the fleet view`);
    const now = Date.now();
    const download = req.toIccid === undefined;
    const swap: SwapRow = {
      swap_id: randomUUID(),
      meter_id: req.meterId,
      eid: inventory.eid,
      trigger: req.trigger,
      state: 'requested',
      phase: download ? 'ordering' : 'enabling',
      needs_download: download,
      from_iccid: req.fromIccid,
      to_iccid: req.toIccid ?? null,
      from_carrier_id: req.fromCarrierId,
      to_carrier_id: req.toCarrierId,
      eim_transaction_id: null,
      counter_value: null,
      package_jws: null,
      reason_code: null,
      traffic_seen_at: null,
      deadline: download ? new Date(now + this.config.SMDP_ORDER_TIMEOUT_S * 1000) : null,
      created_at: new Date(now),
      matching_id: null,
      activation_code: null,
      download_transaction_id: null,
      next_attempt_at: download ? new Date(now) : null,
      attempts: 0,
      cancel_order_pending: false,
      campaign_id: req.campaignId ?? null,
      requested_by: req.requestedBy,
      published_requested: !download,
    };
    await this.swaps.insertSwap(client, { ...swap, cause_event_id: req.causeEventId ?? null });
    const extra: Extra = req.correlationId ? { correlationId: req.correlationId } : {};
    if (swap.published_requested) await this.swaps.recordState(client, swap, 'requested', extra);
    await this.swaps.audit(client, {
      actor: req.requestedBy,
      action: 'swap.requested',
      meterId: req.meterId,
      eid: swap.eid,
      swapId: swap.swap_id,
      campaignId: swap.campaign_id,
      detail: {
        trigger: req.trigger,
        fromIccid: req.fromIccid,
        toIccid: req.toIccid ?? null,
        fromCarrierId: req.fromCarrierId,
        toCarrierId: req.toCarrierId,
        needsDownload: download,
        ...(req.causeEventId ? { causeEventId: req.causeEventId } : {}),
        ...(req.detail ?? {}),
      },
    });
    swapStates.inc({ state: 'requested', trigger: swap.trigger });
    this.active.add(swap.meter_id);
    if (!download) await this.dispatch(client, swap, meter, req.correlationId);
    return swap;
  }

  // ---- start-swap: a coverage event may start a swap; carrier events are tracked

  async onCoverageEvent(event: CoverageEventRecord): Promise<void> {
    if (event.type === 'carrier.outage' || event.type === 'carrier.recovered') return;
    if ((event.type !== 'meter.degraded' && event.type !== 'meter.lost') || !event.meterId) return;
    const meterId = event.meterId;
    const meter = this.fleet.meter(meterId);
    if (!meter || meter.status !== 'active') return;
    // A silent meter of a carrier in outage is moved by the outage's campaign, in waves and only
    // once the outage has lasted (OUTAGE_MIN_DURATION_S), never one by one on a blip.
    if (event.type === 'meter.lost' && event.outageId) {
      decisions.inc({ outcome: 'left_to_outage_campaign' });
      return;
    }
    await this.tx(async (client) => {
      if (await this.swaps.byCause(client, event.eventId)) return; // redelivered event
      const inventory = await this.inventory(client, meterId);
      if (!inventory) return;
      const outageStartedAt = event.outageId
        ? await this.swaps.outageStartedAt(client, event.outageId)
        : undefined;
      const decision = await this.decide(client, meter, inventory, {
        kind: event.type === 'meter.lost' ? 'meter.lost' : 'meter.degraded',
        ...(event.outageId
          ? {
              outage: {
                outageId: event.outageId,
                carrierId: event.carrierId,
                openedAt: (outageStartedAt ?? new Date(event.at)).getTime(),
              },
            }
          : {}),
      });
      if (decision.action === 'none') {
        decisions.inc({ outcome: decision.reason });
        this.log.info({ meterId, reason: decision.reason, cause: event.type }, 'no swap');
        return;
      }
      decisions.inc({ outcome: decision.needsDownload ? 'swap_with_download' : 'swap' });
      await this.startSwap(client, inventory, {
        meterId,
        trigger: 'coverage',
        fromIccid: decision.fromIccid,
        fromCarrierId: decision.fromCarrierId,
        toCarrierId: decision.toCarrierId,
        ...(decision.toIccid ? { toIccid: decision.toIccid } : {}),
        requestedBy: 'eim:coverage',
        causeEventId: event.eventId,
        ...(event.correlationId ? { correlationId: event.correlationId } : {}),
        detail: { cause: event.type, decision: decision.facts },
      });
    });
  }

  /**
   * Asks @meterlink/swap-policy where (and whether) to move the meter, with every fact the eIM
   * has. The caller holds the meter's lock (inventory()). Coverage: the region's per-carrier
   * counts from the coverage monitor (coverage.carriers.v1), fresh ones only, and the meter's
   * cell from the orchestrator's own meter_radio (peers seen within SWAP_CELL_PEER_WINDOW_S).
   */
  async decide(
    client: PoolClient,
    meter: FleetMeterRecord,
    inventory: InventoryRow,
    cause: SwapCause,
  ): Promise<ChooseTargetDecision> {
    const now = Date.now();
    const regionCarriers = this.fleet.region(meter.region)?.carriers ?? [];
    const rows = await this.swaps.policyHistory(client, meter.meterId, now - 365 * 86_400_000);
    const history = rows.map(historyEntry).filter((h): h is PolicyHistoryEntry => h !== undefined);
    const current = inventory.profiles.find((p) => p.state === 'enabled');
    const cell = await this.swaps.cellCoverage(client, {
      meterId: meter.meterId,
      region: meter.region,
      sinceMs: now - this.config.SWAP_CELL_PEER_WINDOW_S * 1000,
      self: { carrierId: current?.carrierId ?? null, state: selfStateOf(cause) },
    });
    return chooseTarget(
      {
        now,
        cause,
        profiles: inventory.profiles,
        regionCarriers,
        carriersInOutage: await this.swaps.carriersInOutage(client, meter.region),
        tariffs: tariffsOf(
          [...regionCarriers, ...(cause.kind === 'operator' ? [cause.targetCarrierId] : [])],
          (id) => this.fleet.carrier(id),
        ),
        coverage: coverageOf(
          this.coverage.region(meter.region, now - this.config.COVERAGE_STATS_MAX_AGE_S * 1000),
          cellCoverageOf(cell.carriers),
        ),
        power: powerOf(meter, await this.swaps.battery(client, meter.meterId)),
        typicalMonthlyBytes: typicalMonthlyBytes(meter),
        hasActiveSwap: (await this.swaps.activeSwap(client, meter.meterId)) !== undefined,
        history,
      },
      policyConfig(this.config),
    );
  }

  /** An operator's swap of one meter to a carrier; the error names why it cannot start. */
  async requestSwap(
    meterId: string,
    toCarrierId: string,
    actor: string,
  ): Promise<{ swapId: string } | { error: string }> {
    const meter = this.fleet.meter(meterId);
    if (!meter || meter.status !== 'active') return { error: 'no_such_meter' };
    if (!this.fleet.carrier(toCarrierId)) return { error: 'unknown_carrier' };
    return this.tx(async (client) => {
      const inventory = await this.inventory(client, meterId);
      if (!inventory) return { error: 'no_enabled_profile' };
      if (await this.swaps.activeSwap(client, meterId)) return { error: 'swap_in_progress' };
      const decision = await this.decide(client, meter, inventory, {
        kind: 'operator',
        targetCarrierId: toCarrierId,
      });
      if (decision.action === 'none') {
        decisions.inc({ outcome: decision.reason });
        return {
          error: decision.reason === 'carrier_in_outage' ? 'target_in_outage' : decision.reason,
        };
      }
      const swap = await this.startSwap(client, inventory, {
        meterId,
        trigger: 'operator',
        fromIccid: decision.fromIccid,
        fromCarrierId: decision.fromCarrierId,
        toCarrierId: decision.toCarrierId,
        ...(decision.toIccid ? { toIccid: decision.toIccid } : {}),
        requestedBy: actor,
        detail: { decision: decision.facts },
      });
      return { swapId: swap.swap_id };
    });
  }

  /** Signs the enable-with-rollback package and hands it to the meter (pushed now, and again on its polls). */
  private async dispatch(
    client: PoolClient,
    swap: SwapRow,
    meter: FleetMeterRecord,
    correlationId?: string,
  ): Promise<void> {
    const toIccid = swap.to_iccid!;
    const counterValue = await this.swaps.nextCounter(client, swap.eid);
    const eimTransactionId = randomUUID();
    const payload: EimPackagePayload = {
      eimId: this.config.EIM_ID,
      eid: swap.eid,
      counterValue,
      eimTransactionId,
      psmoList: [{ op: 'enable', iccid: toIccid, rollback: true }],
    };
    const key = this.keys.current();
    const jws = signCompact(payload, key.privateKey, key.kid);
    const reachable = await this.expectedBy(client, meter);
    const deadline = new Date(
      reachable + (meter.rollbackWindowS + this.config.SWAP_GRACE_S) * 1000,
    );
    await this.swaps.update(client, swap.swap_id, {
      eim_transaction_id: eimTransactionId,
      counter_value: counterValue,
      package_jws: jws,
      deadline,
      phase: 'enabling',
      next_attempt_at: null,
    });
    const dispatched: SwapRow = {
      ...swap,
      phase: 'enabling',
      eim_transaction_id: eimTransactionId,
      package_jws: jws,
      deadline,
    };
    await this.swaps.sendToMeter(
      client,
      swap.meter_id,
      { type: 'eimPackage', jws },
      deadline,
      correlationId,
    );
    await this.transition(client, dispatched, 'dispatched', correlationId ? { correlationId } : {});
  }

  // ---- ES2+: orders at the carrier's SM-DP+, from stored next-attempt times

  /** One pass over the due ES2+ work; returns how many swaps it looked at. */
  async advanceOrders(limit = 50): Promise<number> {
    const claimed = await withTransaction(this.swaps.pool, (client) =>
      this.swaps.claimOrderWork(client, limit, this.config.SMDP_TIMEOUT_MS * 3 + 5_000),
    );
    await Promise.all(
      claimed.map((swap) =>
        this.advanceOrder(swap).catch((error: unknown) =>
          this.log.warn({ err: error, swapId: swap.swap_id }, 'ES2+ step failed; retried later'),
        ),
      ),
    );
    return claimed.length;
  }

  private async advanceOrder(claimed: SwapRow): Promise<void> {
    if (claimed.cancel_order_pending) return this.releaseOrder(claimed);
    if (claimed.state !== 'requested' || claimed.phase !== 'ordering') {
      await this.tx((c) => this.swaps.update(c, claimed.swap_id, { next_attempt_at: null }));
      return;
    }
    let iccid = claimed.to_iccid;
    if (iccid === null) {
      // The SM-DP+'s capacity is per carrier and per minute (a token bucket in PostgreSQL).
      if (!(await this.takeOrderToken(claimed))) return;
      const order = await this.smdp.downloadOrder(
        claimed.to_carrier_id,
        claimed.swap_id,
        claimed.eid,
      );
      es2Calls.inc({ function: 'downloadOrder', outcome: order.ok ? 'ok' : order.code });
      if (!order.ok) return this.es2Failed(claimed, order, 'downloadOrder');
      iccid = order.value.iccid;
      const stillOrdering = await this.tx(async (client) => {
        const swap = await this.swaps.byId(client, claimed.swap_id, true);
        const step = orderStep(swap);
        if (!swap || step !== 'continue') {
          if (swap && step === 'release')
            await this.swaps.update(client, swap.swap_id, {
              to_iccid: iccid,
              cancel_order_pending: true,
              next_attempt_at: new Date(),
            });
          return false;
        }
        await this.swaps.recordOrder(client, swap.to_carrier_id, swap.swap_id);
        await this.swaps.update(client, swap.swap_id, {
          to_iccid: iccid,
          published_requested: true,
        });
        // Now that the target ICCID exists, the swap's `requested` record can be published.
        await this.swaps.recordState(client, { ...swap, to_iccid: iccid }, 'requested');
        return true;
      });
      if (!stillOrdering) return;
    }
    const confirmation = await this.smdp.confirmOrder(
      claimed.to_carrier_id,
      claimed.swap_id,
      claimed.eid,
      iccid,
    );
    es2Calls.inc({
      function: 'confirmOrder',
      outcome: confirmation.ok ? 'ok' : confirmation.code,
    });
    if (!confirmation.ok)
      return this.es2Failed({ ...claimed, to_iccid: iccid }, confirmation, 'confirmOrder');
    const { matchingId, smdpAddress } = confirmation.value;
    await this.tx(async (client) => {
      const swap = await this.swaps.byId(client, claimed.swap_id, true);
      const meter = this.fleet.meter(claimed.meter_id);
      const step = orderStep(swap);
      if (!swap || !meter || step !== 'continue') {
        // A meter gone from the fleet view (decommissioned) gets no download either.
        if (swap && (step === 'release' || (step === 'continue' && !meter)))
          await this.swaps.update(client, swap.swap_id, {
            matching_id: matchingId,
            cancel_order_pending: true,
            next_attempt_at: new Date(),
          });
        return;
      }
      const transactionId = randomUUID();
      const code = activationCode(smdpAddress, matchingId);
      const deadline = new Date(
        (await this.expectedBy(client, meter)) + this.config.DOWNLOAD_TIMEOUT_S * 1000,
      );
      await this.swaps.update(client, swap.swap_id, {
        phase: 'downloading',
        matching_id: matchingId,
        activation_code: code,
        download_transaction_id: transactionId,
        next_attempt_at: null,
        deadline,
      });
      await this.swaps.sendToMeter(
        client,
        swap.meter_id,
        { type: 'profileDownloadTrigger', eimTransactionId: transactionId, activationCode: code },
        deadline,
      );
      await this.swaps.audit(client, {
        actor: 'eim',
        action: 'swap.download-triggered',
        meterId: swap.meter_id,
        eid: swap.eid,
        swapId: swap.swap_id,
        campaignId: swap.campaign_id,
        detail: { toIccid: iccid, smdpAddress, matchingIdHash: redact(matchingId) },
      });
    });
  }

  /** One download order's worth of the carrier's SM-DP+ capacity, or the swap waits for it. */
  private async takeOrderToken(claimed: SwapRow): Promise<boolean> {
    return this.tx(async (client) => {
      const carrierId = claimed.to_carrier_id;
      const config = rateLimit(
        ordersPerMinute(
          carrierId,
          this.config.SMDP_ORDERS_PER_MIN_BY_CARRIER,
          this.config.SMDP_ORDERS_PER_MIN,
        ),
      );
      const now = Date.now();
      await client.query(
        `INSERT INTO orchestrator.smdp_buckets (carrier_id, tokens, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (carrier_id) DO NOTHING`,
        [carrierId, config.burst, now],
      );
      const { rows } = await client.query<{ tokens: number; updated_at: string }>(
        'SELECT tokens, updated_at FROM orchestrator.smdp_buckets WHERE carrier_id = $1 FOR UPDATE',
        [carrierId],
      );
      const taken = takeTokens(
        rows[0] ? { tokens: rows[0].tokens, updatedAt: Number(rows[0].updated_at) } : undefined,
        1,
        now,
        config,
      );
      await client.query(
        'UPDATE orchestrator.smdp_buckets SET tokens = $2, updated_at = $3 WHERE carrier_id = $1',
        [carrierId, taken.bucket.tokens, taken.bucket.updatedAt],
      );
      if (taken.granted === 1) return true;
      rateLimited.inc({ carrier: carrierId });
      await this.swaps.update(client, claimed.swap_id, {
        // Spread the waiting swaps over the next tokens rather than all at the first one.
        next_attempt_at: new Date((taken.nextTokenAt ?? now + 60_000) + Math.random() * 2_000),
      });
      return false;
    });
  }

  private async es2Failed(
    claimed: SwapRow,
    outcome: Extract<Es2Outcome<unknown>, { ok: false }>,
    fn: string,
  ): Promise<void> {
    await this.tx(async (client) => {
      const swap = await this.swaps.byId(client, claimed.swap_id, true);
      if (!swap || swap.state !== 'requested' || swap.phase !== 'ordering') return;
      const attempts = swap.attempts + 1;
      const next = Date.now() + retryDelayMs(attempts);
      if (outcome.transient && (!swap.deadline || next < swap.deadline.getTime())) {
        this.log.warn({ swapId: swap.swap_id, fn, code: outcome.code, attempts }, 'ES2+ retry');
        await this.swaps.update(client, swap.swap_id, {
          attempts,
          next_attempt_at: new Date(next),
        });
        return;
      }
      const failed = {
        ...swap,
        to_iccid: claimed.to_iccid,
        // An order made but not confirmed is released.
        cancel_order_pending: fn === 'confirmOrder',
      };
      if (failed.cancel_order_pending)
        await this.swaps.update(client, swap.swap_id, { cancel_order_pending: true });
      await this.transition(client, failed, 'failed', {
        reasonCode: outcome.transient ? 'smdp_unavailable' : outcome.code,
      });
    });
  }

  private async releaseOrder(claimed: SwapRow): Promise<void> {
    if (claimed.to_iccid === null) {
      await this.tx((c) =>
        this.swaps.update(c, claimed.swap_id, {
          cancel_order_pending: false,
          next_attempt_at: null,
        }),
      );
      return;
    }
    const out = await this.smdp.cancelOrder(
      claimed.to_carrier_id,
      claimed.swap_id,
      claimed.eid,
      claimed.to_iccid,
      claimed.matching_id,
    );
    es2Calls.inc({ function: 'cancelOrder', outcome: out.ok ? 'ok' : out.code });
    await this.tx(async (client) => {
      if (!out.ok && out.transient && claimed.attempts < 10) {
        await this.swaps.update(client, claimed.swap_id, {
          attempts: claimed.attempts + 1,
          next_attempt_at: new Date(Date.now() + retryDelayMs(claimed.attempts + 1)),
        });
        return;
      }
      await this.swaps.update(client, claimed.swap_id, {
        cancel_order_pending: false,
        next_attempt_at: null,
      });
      await this.swaps.audit(client, {
        actor: 'eim',
        action: 'swap.order-cancelled',
        meterId: claimed.meter_id,
        eid: claimed.eid,
        swapId: claimed.swap_id,
        campaignId: claimed.campaign_id,
        detail: { toIccid: claimed.to_iccid, outcome: out.ok ? 'ok' : out.code },
      });
    });
  }

  // ---- handle-esipa: polls, results, notifications from the IPA

  async onEsipa(record: EsipaInboundRecord): Promise<void> {
    const message: EsipaMessage = record.message;
    await this.seen(record.meterId);
    switch (message.type) {
      case 'getEimPackage':
        return this.onPoll(record.meterId, message.stateChangeCause, record.correlationId);
      case 'eimPackageResult':
        return this.onPackageResult(record.meterId, message.jws, record.correlationId);
      case 'profileDownloadResult':
        return this.onDownloadResult(record.meterId, message, record.correlationId);
      case 'notifications':
        return this.onNotifications(record.meterId, message.notifications, record.correlationId);
    }
  }

  /** Every ESipa message says the meter is awake now; a sleepy one is next expected an interval later. */
  private async seen(meterId: string): Promise<void> {
    const meter = this.fleet.meter(meterId);
    if (!meter) return;
    await this.swaps.touchPresence(
      this.swaps.pool,
      meterId,
      new Date(Date.now() + meter.reportIntervalS * 1000),
    );
  }

  private async onPoll(
    meterId: string,
    stateChangeCause: string | undefined,
    correlationId?: string,
  ): Promise<void> {
    await this.tx(async (client) => {
      const active = await this.swaps.activeSwap(client, meterId);
      if (stateChangeCause) {
        await this.swaps.audit(client, {
          actor: 'device',
          action: 'device.state-change',
          meterId,
          detail: { stateChangeCause },
        });
      }
      // After a local change (fallback) the eIM's view is stale until the notification that
      // follows: no package on this poll, so the meter is never answered by a contradicting swap.
      const hold = stateChangeCause !== undefined;
      if (!hold && active?.state === 'dispatched' && active.package_jws) {
        await this.swaps.sendToMeter(
          client,
          meterId,
          { type: 'eimPackage', jws: active.package_jws },
          active.deadline ?? undefined,
          correlationId,
        );
      } else if (
        !hold &&
        active?.phase === 'downloading' &&
        active.activation_code &&
        active.download_transaction_id
      ) {
        await this.swaps.sendToMeter(
          client,
          meterId,
          {
            type: 'profileDownloadTrigger',
            eimTransactionId: active.download_transaction_id,
            activationCode: active.activation_code,
          },
          active.deadline ?? undefined,
          correlationId,
        );
      } else {
        await this.swaps.sendToMeter(
          client,
          meterId,
          { type: 'noEimPackageAvailable' },
          undefined,
          correlationId,
        );
      }
    });
  }

  private async onPackageResult(
    meterId: string,
    jws: string,
    correlationId?: string,
  ): Promise<void> {
    const meter = this.fleet.meter(meterId);
    if (!meter) {
      invalidResults.inc({ reason: 'unknown_meter' });
      return;
    }
    const verified = verifyCompact(
      jws,
      this.deviceKeys.get(meterId, meter.devicePublicKeyJwk),
      meterId,
    );
    if (!verified.ok) {
      invalidResults.inc({ reason: verified.error });
      this.log.warn(
        { meterId, error: verified.error },
        'package result with an invalid signature ignored',
      );
      return;
    }
    const parsed = eimPackageResultPayloadSchema.safeParse(verified.payload);
    if (!parsed.success || parsed.data.eid !== meter.eid) {
      invalidResults.inc({ reason: parsed.success ? 'eid_mismatch' : 'schema_violation' });
      return;
    }
    const result = parsed.data;
    await this.tx(async (client) => {
      await this.swaps.sendToMeter(
        client,
        meterId,
        { type: 'eimAcknowledgements', seqNumbers: [result.seqNumber] },
        undefined,
        correlationId,
      );
      const swap = await this.swaps.byTransaction(client, result.eimTransactionId);
      if (!swap || swap.meter_id !== meterId) {
        invalidResults.inc({ reason: 'unknown_transaction' });
        return;
      }
      // A result must answer the package as signed: another counter is a replay of something else.
      if (swap.counter_value !== null && Number(swap.counter_value) !== result.counterValue) {
        invalidResults.inc({ reason: 'counter_mismatch' });
        return;
      }
      if (swap.state !== 'dispatched') {
        // The meter ran the package after the eIM gave up on it (a broker copy, or a poll just
        // after the deadline) and now runs on the target: the inventory follows the meter.
        if (
          (swap.state === 'expired' || swap.state === 'cancelled') &&
          swap.to_iccid !== null &&
          !result.rolledBack &&
          result.results.length > 0 &&
          result.results.every((r) => r.code === 'ok') &&
          result.results.some((r) => r.op === 'enable' && r.iccid === swap.to_iccid) &&
          (await this.reconcileDeviceChange(
            client,
            meterId,
            { event: 'late-result', iccid: swap.to_iccid, at: new Date().toISOString() },
            correlationId,
            swap.swap_id,
          ))
        )
          return;
        duplicateResults.inc({ type: 'eimPackageResult' });
        return; // a retransmission of a result already applied
      }
      const extra = correlationId ? { correlationId } : {};
      const failure = result.results.find((r) => r.code !== 'ok');
      if (result.rolledBack) {
        await this.transition(client, swap, 'rolled-back', {
          ...extra,
          reasonCode: failure?.code ?? 'rolled_back',
        });
      } else if (failure) {
        await this.transition(client, swap, 'failed', { ...extra, reasonCode: failure.code });
      } else if (swap.traffic_seen_at) {
        await this.complete(client, swap, extra);
      } else {
        await this.swaps.update(client, swap.swap_id, { state: 'confirming', phase: 'confirming' });
      }
    });
  }

  private async onDownloadResult(
    meterId: string,
    message: ProfileDownloadResult,
    correlationId?: string,
  ): Promise<void> {
    const meter = this.fleet.meter(meterId);
    if (!meter) {
      invalidResults.inc({ reason: 'unknown_meter' });
      return;
    }
    await this.tx(async (client) => {
      await this.swaps.sendToMeter(
        client,
        meterId,
        { type: 'eimAcknowledgements', seqNumbers: [message.seqNumber] },
        undefined,
        correlationId,
      );
      const swap = await this.swaps.byDownloadTransaction(client, message.eimTransactionId);
      if (!swap || swap.meter_id !== meterId) {
        invalidResults.inc({ reason: 'unknown_transaction' });
        return;
      }
      if (message.result === 'installed' && message.iccid && message.iccid !== swap.to_iccid) {
        invalidResults.inc({ reason: 'iccid_mismatch' });
        return;
      }
      const inventory = await this.inventory(client, meterId);
      // The eUICC holds the profile whatever became of the swap: the inventory says so.
      if (message.result === 'installed' && inventory && swap.to_iccid) {
        if (!inventory.profiles.some((p) => p.iccid === swap.to_iccid))
          await this.swaps.saveInventory(client, {
            ...inventory,
            profiles: [
              ...inventory.profiles,
              { iccid: swap.to_iccid, carrierId: swap.to_carrier_id, state: 'disabled' },
            ],
          });
      }
      if (swap.state !== 'requested' || swap.phase !== 'downloading') {
        duplicateResults.inc({ type: 'profileDownloadResult' });
        return;
      }
      const extra = correlationId ? { correlationId } : {};
      if (message.result !== 'installed') {
        const failed = { ...swap, cancel_order_pending: CANCEL_ORDER_AFTER.has(message.result) };
        if (failed.cancel_order_pending)
          await this.swaps.update(client, swap.swap_id, { cancel_order_pending: true });
        await this.transition(client, failed, 'failed', { ...extra, reasonCode: message.result });
        return;
      }
      await this.swaps.audit(client, {
        actor: 'device',
        action: 'swap.profile-installed',
        meterId,
        eid: swap.eid,
        swapId: swap.swap_id,
        campaignId: swap.campaign_id,
        detail: { iccid: swap.to_iccid },
      });
      await this.dispatch(client, swap, meter, correlationId);
    });
  }

  private async complete(client: PoolClient, swap: SwapRow, extra: Extra): Promise<void> {
    const inventory = await this.inventory(client, swap.meter_id);
    if (inventory && swap.to_iccid) await this.enable(client, inventory, swap.to_iccid);
    await this.swaps.update(client, swap.swap_id, { phase: 'confirming' });
    await this.transition(client, { ...swap, phase: 'confirming' }, 'completed', extra);
  }

  private async onNotifications(
    meterId: string,
    notifications: DeviceNotification[],
    correlationId?: string,
  ): Promise<void> {
    await this.tx(async (client) => {
      await this.swaps.sendToMeter(
        client,
        meterId,
        { type: 'eimAcknowledgements', seqNumbers: notifications.map((n) => n.seqNumber) },
        undefined,
        correlationId,
      );
      for (const n of notifications) {
        if (n.event === 'fallback' || n.event === 'rollback')
          await this.reconcileDeviceChange(
            client,
            meterId,
            { event: n.event, iccid: n.iccid, at: n.at },
            correlationId,
          );
        else if (n.event === 'delete') await this.forgetProfile(client, meterId, n.iccid);
      }
    });
  }

  private async forgetProfile(client: PoolClient, meterId: string, iccid: string): Promise<void> {
    const inventory = await this.inventory(client, meterId);
    if (!inventory || inventory.enabled_iccid === iccid) return;
    if (!inventory.profiles.some((p) => p.iccid === iccid)) return;
    await this.swaps.saveInventory(client, {
      ...inventory,
      profiles: inventory.profiles.filter((p) => p.iccid !== iccid),
    });
  }

  /**
   * The meter enabled a profile by itself (fallback, or a rollback the eIM did not see coming):
   * record it in the inventory and on the profile timeline, and never fight it: a pending swap is
   * cancelled, whether it aimed at that profile (reached without it) or away from it.
   */
  private async reconcileDeviceChange(
    client: PoolClient,
    meterId: string,
    n: DeviceProfileChange,
    correlationId?: string,
    lateSwapId?: string,
  ): Promise<boolean> {
    const inventory = await this.inventory(client, meterId);
    if (!inventory || inventory.enabled_iccid === n.iccid) return false; // known, or a retransmission
    const extra = correlationId ? { correlationId } : {};
    const active = await this.swaps.activeSwap(client, meterId, true);
    // Our own swap's rollback back to where the eIM believes the meter is: its result settles it.
    if (n.event === 'rollback' && active && active.from_iccid === n.iccid) return false;
    if (active)
      await this.cancel(client, active, {
        ...extra,
        reasonCode:
          active.to_iccid === n.iccid ? 'device_fallback_reached_target' : 'device_fallback',
      });
    const from = inventory.profiles.find((p) => p.iccid === inventory.enabled_iccid);
    const to = inventory.profiles.find((p) => p.iccid === n.iccid);
    const toCarrierId = to?.carrierId ?? this.fleet.carrierOf(meterId, n.iccid) ?? 'unknown';
    const swap: SwapRow = {
      swap_id: randomUUID(),
      meter_id: meterId,
      eid: inventory.eid,
      trigger: 'device-fallback',
      state: 'completed',
      phase: 'confirming',
      needs_download: false,
      from_iccid: inventory.enabled_iccid,
      to_iccid: n.iccid,
      from_carrier_id: from?.carrierId ?? 'unknown',
      to_carrier_id: toCarrierId,
      eim_transaction_id: null,
      counter_value: null,
      package_jws: null,
      reason_code: null,
      traffic_seen_at: new Date(),
      deadline: null,
      created_at: new Date(),
      matching_id: null,
      activation_code: null,
      download_transaction_id: null,
      next_attempt_at: null,
      attempts: 0,
      cancel_order_pending: false,
      campaign_id: null,
      requested_by: 'device',
      published_requested: true,
    };
    await this.swaps.insertSwap(client, { ...swap, cause_event_id: null });
    const profiles = to
      ? inventory.profiles
      : [
          ...inventory.profiles,
          { iccid: n.iccid, carrierId: toCarrierId, state: 'disabled' as const },
        ];
    await this.enable(client, { ...inventory, profiles }, n.iccid);
    await this.swaps.recordState(client, swap, 'completed', {
      ...extra,
      reasonCode: DEVICE_CHANGE_REASON[n.event],
    });
    await this.swaps.audit(client, {
      actor: 'device',
      action: n.event === 'late-result' ? 'swap.late-result-reconciled' : 'swap.device-fallback',
      meterId,
      eid: inventory.eid,
      swapId: swap.swap_id,
      detail: {
        event: n.event,
        fromIccid: swap.from_iccid,
        toIccid: n.iccid,
        at: n.at,
        ...(active ? { cancelledSwapId: active.swap_id } : {}),
        ...(lateSwapId ? { lateSwapId } : {}),
      },
    });
    swapStates.inc({ state: 'completed', trigger: 'device-fallback' });
    return true;
  }

  // ---- confirm-swap: traffic on the new profile

  async onConnectivity(record: MeterConnectivityRecord, correlationId?: string): Promise<void> {
    await this.tx(async (client) => {
      const swap = await this.swaps.activeSwap(client, record.meterId, true);
      if (!swap || record.iccid !== swap.to_iccid) return;
      const extra = correlationId ? { correlationId } : {};
      if (swap.state === 'confirming') await this.complete(client, swap, extra);
      else if (!swap.traffic_seen_at)
        await this.swaps.update(client, swap.swap_id, { traffic_seen_at: new Date() });
    });
  }

  // ---- expire-swaps: stored deadlines

  async expireDue(): Promise<number> {
    return this.tx(async (client) => {
      const due = await this.swaps.dueSwaps(client, 200);
      for (const swap of due) {
        if (swap.state === 'confirming')
          await this.transition(client, swap, 'failed', {
            reasonCode: 'no_traffic_on_new_profile',
          });
        else if (swap.phase === 'ordering') {
          // An order placed but never confirmed is released.
          const failed = { ...swap, cancel_order_pending: swap.to_iccid !== null };
          if (failed.cancel_order_pending)
            await this.swaps.update(client, swap.swap_id, { cancel_order_pending: true });
          await this.transition(client, failed, 'failed', { reasonCode: 'smdp_unavailable' });
        } else if (swap.phase === 'downloading') {
          const expired = { ...swap, cancel_order_pending: true };
          await this.swaps.update(client, swap.swap_id, { cancel_order_pending: true });
          await this.transition(client, expired, 'expired', {
            reasonCode: 'no_download_result_before_deadline',
          });
        } else
          await this.transition(client, swap, 'expired', {
            reasonCode: 'no_result_before_deadline',
          });
      }
      return due.length;
    });
  }
}
