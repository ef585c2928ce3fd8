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

export type InternalSwapState = SwapState | 'confirming';
export const ACTIVE_STATES: InternalSwapState[] = ['requested', 'dispatched', 'confirming'];

export interface SwapRow {
  swap_id: string;
  meter_id: string;
  eid: string;
  trigger: SwapTrigger;
  state: InternalSwapState;
  from_iccid: string;
  to_iccid: string;
  from_carrier_id: string;
  to_carrier_id: string;
  eim_transaction_id: string | null;
  counter_value: string | null;
  package_jws: string | null;
  reason_code: string | null;
  traffic_seen_at: Date | null;
  deadline: Date | null;
  created_at: Date;
}

export interface InventoryRow {
  meter_id: string;
  eid: string;
  enabled_iccid: string;
  profiles: InventoryProfile[];
}

type Db = Pool | PoolClient;

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

  async insertSwap(
    db: Db,
    swap: Omit<
      SwapRow,
      | 'created_at'
      | 'eim_transaction_id'
      | 'counter_value'
      | 'package_jws'
      | 'reason_code'
      | 'traffic_seen_at'
    > & { cause_event_id: string | null },
  ): Promise<void> {
    await db.query(
      `INSERT INTO orchestrator.swaps (swap_id, meter_id, eid, trigger, state, from_iccid, to_iccid, from_carrier_id, to_carrier_id, deadline, cause_event_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
      [
        swap.swap_id,
        swap.meter_id,
        swap.eid,
        swap.trigger,
        swap.state,
        swap.from_iccid,
        swap.to_iccid,
        swap.from_carrier_id,
        swap.to_carrier_id,
        swap.deadline,
        swap.cause_event_id,
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
      toIccid: swap.to_iccid,
      fromCarrierId: swap.from_carrier_id,
      toCarrierId: swap.to_carrier_id,
      trigger: swap.trigger,
      state,
      ...(extra.reasonCode ? { reasonCode: extra.reasonCode } : {}),
      ...(swap.eim_transaction_id ? { eimTransactionId: swap.eim_transaction_id } : {}),
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
      detail?: Record<string, unknown>;
    },
  ): Promise<void> {
    await db.query(
      'INSERT INTO orchestrator.audit_log (actor, action, meter_id, eid, swap_id, detail) VALUES ($1, $2, $3, $4, $5, $6)',
      [
        entry.actor,
        entry.action,
        entry.meterId ?? null,
        entry.eid ?? null,
        entry.swapId ?? null,
        JSON.stringify(entry.detail ?? {}),
      ],
    );
  }

  async dueSwaps(db: Db, limit: number): Promise<SwapRow[]> {
    const { rows } = await db.query<SwapRow>(
      `SELECT * FROM orchestrator.swaps WHERE state = ANY($1) AND deadline < now() ORDER BY deadline LIMIT $2 FOR UPDATE SKIP LOCKED`,
      [ACTIVE_STATES, limit],
    );
    return rows;
  }
}
