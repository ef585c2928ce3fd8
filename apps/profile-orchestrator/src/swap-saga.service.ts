import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import {
  eimPackageResultPayloadSchema,
  type CoverageEventRecord,
  type EimPackagePayload,
  type EsipaInboundRecord,
  type MeterConnectivityRecord,
  type SwapState,
} from '@meterlink/contracts';
import type { FleetView } from '@meterlink/fleet-view';
import { PublicKeyCache, signCompact, verifyCompact } from '@meterlink/jws';
import { counter, createLogger } from '@meterlink/observability';
import { withTransaction, type PoolClient } from '@meterlink/postgres';
import { decideSwap } from '@meterlink/swap-policy';
import type { OrchestratorConfig } from './config';
import { FLEET_VIEW, ORCHESTRATOR_CONFIG } from './tokens';
import { EIM_KEY_STORE } from './eim-keys/eim-key.tokens';
import type { EimKeyStore } from './eim-keys/eim-key.store';
import { OutboxPublisher } from './outbox/outbox.publisher';
import { SwapsRepository, type InventoryRow, type SwapRow } from './swaps.repository';

const decisions = counter('orchestrator_swap_decisions_total', 'Swap decisions', ['outcome']);
const swapStates = counter('orchestrator_swap_states_total', 'Swap state changes', [
  'state',
  'trigger',
]);
const invalidResults = counter(
  'orchestrator_invalid_results_total',
  'Package results refused (treated as not received)',
  ['reason'],
);

type EsipaMessage = EsipaInboundRecord['message'];

/**
 * The eIM's swap saga: target chosen → package signed and dispatched → result verified →
 * traffic seen on the new profile → completed; or rolled-back, failed, expired, cancelled. Every
 * step is one PostgreSQL transaction that also writes the public record and any message for the
 * meter to the outbox, so a crash never leaves a state unpublished or a package half-sent.
 */
@Injectable()
export class SwapSagaService {
  private readonly log = createLogger('SwapSagaService');
  private readonly deviceKeys = new PublicKeyCache();

  constructor(
    @Inject(ORCHESTRATOR_CONFIG) private readonly config: OrchestratorConfig,
    @Inject(FLEET_VIEW) private readonly fleet: FleetView,
    @Inject(EIM_KEY_STORE) private readonly keys: EimKeyStore,
    private readonly swaps: SwapsRepository,
    private readonly outbox: OutboxPublisher,
  ) {}

  private async tx<T>(fn: (client: PoolClient) => Promise<T>): Promise<T> {
    const result = await withTransaction(this.swaps.pool, fn);
    this.outbox.poke();
    return result;
  }

  /** The eIM's inventory of a meter, seeded from the registry's view the first time. */
  private async inventory(client: PoolClient, meterId: string): Promise<InventoryRow | undefined> {
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
    extra: { reasonCode?: string; correlationId?: string } = {},
  ): Promise<void> {
    await this.swaps.update(client, swap.swap_id, {
      state,
      ...(extra.reasonCode ? { reason_code: extra.reasonCode } : {}),
    });
    await this.swaps.recordState(client, swap, state, extra);
    await this.swaps.audit(client, {
      actor: 'eim',
      action: `swap.${state}`,
      meterId: swap.meter_id,
      eid: swap.eid,
      swapId: swap.swap_id,
      detail: {
        fromIccid: swap.from_iccid,
        toIccid: swap.to_iccid,
        trigger: swap.trigger,
        ...(extra.reasonCode ? { reasonCode: extra.reasonCode } : {}),
      },
    });
    swapStates.inc({ state, trigger: swap.trigger });
    this.log.info(
      { swapId: swap.swap_id, meterId: swap.meter_id, state, reasonCode: extra.reasonCode },
      'swap state changed',
    );
  }

  // ---- start-swap: a coverage event may start a swap

  async onCoverageEvent(event: CoverageEventRecord): Promise<void> {
    if ((event.type !== 'meter.degraded' && event.type !== 'meter.lost') || !event.meterId) return;
    const meterId = event.meterId;
    const meter = this.fleet.meter(meterId);
    if (!meter || meter.status !== 'active') return;
    await this.tx(async (client) => {
      if (await this.swaps.byCause(client, event.eventId)) return; // redelivered event
      const inventory = await this.inventory(client, meterId);
      if (!inventory) return;
      const active = await this.swaps.activeSwap(client, meterId);
      const now = Date.now();
      const decision = decideSwap(
        {
          now,
          signal: event.type === 'meter.lost' ? 'meter.lost' : 'meter.degraded',
          partOfCarrierOutage: event.outageId !== undefined,
          profiles: inventory.profiles,
          regionCarriers: this.fleet.region(meter.region)?.carriers ?? [],
          carriersInOutage: new Set(),
          hasActiveSwap: active !== undefined,
          history: await this.swaps.history(
            client,
            meterId,
            now - this.config.SWAP_ANTI_FLAP_WINDOW_S * 1000,
          ),
        },
        {
          cooldownMs: this.config.SWAP_COOLDOWN_S * 1000,
          antiFlapWindowMs: this.config.SWAP_ANTI_FLAP_WINDOW_S * 1000,
        },
      );
      if (decision.action === 'none') {
        decisions.inc({ outcome: decision.reason });
        this.log.info({ meterId, reason: decision.reason, cause: event.type }, 'no swap');
        return;
      }
      decisions.inc({ outcome: 'swap' });
      const swap: SwapRow = {
        swap_id: randomUUID(),
        meter_id: meterId,
        eid: inventory.eid,
        // A degraded meter is moved on its own evidence, outage or not; a silent one only
        // because its carrier is out in the region.
        trigger: event.type === 'meter.lost' && event.outageId ? 'carrier-outage' : 'coverage',
        state: 'requested',
        from_iccid: decision.fromIccid,
        to_iccid: decision.toIccid,
        from_carrier_id: decision.fromCarrierId,
        to_carrier_id: decision.toCarrierId,
        eim_transaction_id: null,
        counter_value: null,
        package_jws: null,
        reason_code: null,
        traffic_seen_at: null,
        deadline: null,
        created_at: new Date(now),
      };
      await this.swaps.insertSwap(client, { ...swap, cause_event_id: event.eventId });
      await this.swaps.recordState(
        client,
        swap,
        'requested',
        event.correlationId ? { correlationId: event.correlationId } : {},
      );
      await this.swaps.audit(client, {
        actor: 'eim',
        action: 'swap.requested',
        meterId,
        eid: swap.eid,
        swapId: swap.swap_id,
        detail: { cause: event.type, causeEventId: event.eventId, decision },
      });
      swapStates.inc({ state: 'requested', trigger: swap.trigger });
      await this.dispatch(client, swap, meter.rollbackWindowS, event.correlationId);
    });
  }

  /** Signs the enable-with-rollback package and hands it to the meter (pushed now, and again on its polls). */
  private async dispatch(
    client: PoolClient,
    swap: SwapRow,
    rollbackWindowS: number,
    correlationId?: string,
  ): Promise<void> {
    const counterValue = await this.swaps.nextCounter(client, swap.eid);
    const eimTransactionId = randomUUID();
    const payload: EimPackagePayload = {
      eimId: this.config.EIM_ID,
      eid: swap.eid,
      counterValue,
      eimTransactionId,
      psmoList: [{ op: 'enable', iccid: swap.to_iccid, rollback: true }],
    };
    const key = this.keys.current();
    const jws = signCompact(payload, key.privateKey, key.kid);
    const deadline = new Date(Date.now() + (rollbackWindowS + this.config.SWAP_GRACE_S) * 1000);
    await this.swaps.update(client, swap.swap_id, {
      eim_transaction_id: eimTransactionId,
      counter_value: counterValue,
      package_jws: jws,
      deadline,
    });
    const dispatched = {
      ...swap,
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

  // ---- handle-esipa: polls, results, notifications from the IPA

  async onEsipa(record: EsipaInboundRecord): Promise<void> {
    const message: EsipaMessage = record.message;
    switch (message.type) {
      case 'getEimPackage':
        return this.onPoll(record.meterId, record.correlationId);
      case 'eimPackageResult':
        return this.onPackageResult(record.meterId, message.jws, record.correlationId);
      case 'profileDownloadResult':
        return this.acknowledge(record.meterId, [message.seqNumber], record.correlationId);
      case 'notifications':
        return this.onNotifications(record.meterId, message.notifications, record.correlationId);
    }
  }

  private async acknowledge(
    meterId: string,
    seqNumbers: number[],
    correlationId?: string,
  ): Promise<void> {
    await this.tx((client) =>
      this.swaps.sendToMeter(
        client,
        meterId,
        { type: 'eimAcknowledgements', seqNumbers },
        undefined,
        correlationId,
      ),
    );
  }

  private async onPoll(meterId: string, correlationId?: string): Promise<void> {
    await this.tx(async (client) => {
      const active = await this.swaps.activeSwap(client, meterId);
      if (active?.state === 'dispatched' && active.package_jws) {
        await this.swaps.sendToMeter(
          client,
          meterId,
          { type: 'eimPackage', jws: active.package_jws },
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
      if (swap.state !== 'dispatched') return; // a retransmission of a result already applied
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
        await this.swaps.update(client, swap.swap_id, { state: 'confirming' });
      }
    });
  }

  private async complete(
    client: PoolClient,
    swap: SwapRow,
    extra: { correlationId?: string },
  ): Promise<void> {
    const inventory = await this.inventory(client, swap.meter_id);
    if (inventory) await this.enable(client, inventory, swap.to_iccid);
    await this.transition(client, swap, 'completed', extra);
  }

  private async onNotifications(
    meterId: string,
    notifications: { seqNumber: number; event: string; iccid: string }[],
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
      for (const n of notifications.filter((x) => x.event === 'fallback'))
        await this.reconcileFallback(client, meterId, n.iccid, correlationId);
    });
  }

  /** The meter enabled its fallback profile by itself: record it, and never fight it. */
  private async reconcileFallback(
    client: PoolClient,
    meterId: string,
    iccid: string,
    correlationId?: string,
  ): Promise<void> {
    const inventory = await this.inventory(client, meterId);
    if (!inventory || inventory.enabled_iccid === iccid) return;
    const extra = correlationId ? { correlationId } : {};
    const active = await this.swaps.activeSwap(client, meterId, true);
    if (active)
      await this.transition(client, active, 'cancelled', {
        ...extra,
        reasonCode: 'device_fallback',
      });
    const from = inventory.profiles.find((p) => p.iccid === inventory.enabled_iccid);
    const to = inventory.profiles.find((p) => p.iccid === iccid);
    const swap: SwapRow = {
      swap_id: randomUUID(),
      meter_id: meterId,
      eid: inventory.eid,
      trigger: 'device-fallback',
      state: 'completed',
      from_iccid: inventory.enabled_iccid,
      to_iccid: iccid,
      from_carrier_id: from?.carrierId ?? 'unknown',
      to_carrier_id: to?.carrierId ?? 'unknown',
      eim_transaction_id: null,
      counter_value: null,
      package_jws: null,
      reason_code: null,
      traffic_seen_at: new Date(),
      deadline: null,
      created_at: new Date(),
    };
    await this.swaps.insertSwap(client, { ...swap, cause_event_id: null });
    await this.enable(client, inventory, iccid);
    await this.swaps.recordState(client, swap, 'completed', extra);
    await this.swaps.audit(client, {
      actor: 'device',
      action: 'swap.device-fallback',
      meterId,
      eid: inventory.eid,
      swapId: swap.swap_id,
      detail: { fromIccid: swap.from_iccid, toIccid: iccid },
    });
    swapStates.inc({ state: 'completed', trigger: 'device-fallback' });
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
        else
          await this.transition(client, swap, 'expired', {
            reasonCode: 'no_result_before_deadline',
          });
      }
      return due.length;
    });
  }
}
