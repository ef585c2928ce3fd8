import { Inject, Injectable } from '@nestjs/common';
import type { ManifestProfile } from '@meterlink/contracts';
import { counter, createLogger } from '@meterlink/observability';
import { withTransaction, type Pool, type PoolClient } from '@meterlink/postgres';
import { PG_POOL } from '../tokens';
import { MetersRepository } from '../meters/meters.repository';
import { FleetPublisherService } from '../fleet-publisher/fleet-publisher.service';
import { AuditLogRepository } from '../audit/audit-log.repository';
import { applyInventoryChange, type InventoryChange } from './inventory-change';

/** One thing learned about a meter's eUICC. */
export interface InventoryFact {
  meterId: string;
  /** When the platform learned it (receivedAt of what the meter sent, `at` of a completed swap). */
  at: string;
  change: InventoryChange;
  /** Who changed it: `eim` (a swap the platform ran) or `meter` (the eUICC's own report). */
  actor: 'eim' | 'meter';
  /** For the audit entry: where the fact came from. */
  source: Record<string, unknown>;
  /** eUICC notifications: their seqNumber, so retransmissions are recognised. */
  notificationSeq?: number;
}

const facts = counter('registry_inventory_facts_total', 'eUICC inventory facts by outcome', [
  'outcome',
]);

interface MeterState {
  inventory_at: Date | null;
  notification_seq: string | null;
  status: string;
}

/**
 * Keeps each meter's eUICC inventory current from what the platform and the meter say: completed
 * swaps (profile.swaps.v1), the eUICC's notifications (install, enable, disable, delete,
 * fallback, rollback, on esipa.inbound.v1) and boot reports (meter.events.v1). Each change is
 * audited and the meter republished on fleet.meters.v1, so every service's view follows. A fact
 * older than the state already recorded, or a notification already applied, changes nothing;
 * repeating a fact changes nothing and bumps no revision.
 */
@Injectable()
export class TrackInventoryService {
  private readonly log = createLogger('TrackInventoryService');
  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    private readonly meters: MetersRepository,
    private readonly publisher: FleetPublisherService,
    private readonly audit: AuditLogRepository,
  ) {}

  async apply(batch: InventoryFact[]): Promise<void> {
    if (batch.length === 0) return;
    const byMeter = new Map<string, InventoryFact[]>();
    for (const fact of batch)
      byMeter.set(fact.meterId, [...(byMeter.get(fact.meterId) ?? []), fact]);
    const changed: string[] = [];
    await withTransaction(this.pool, async (client) => {
      for (const [meterId, meterFacts] of byMeter)
        if (await this.applyToMeter(client, meterId, meterFacts)) changed.push(meterId);
    });
    if (changed.length === 0) return;
    const stored = await this.meters.findMany(changed);
    await this.publisher.publishMeters([...stored.values()].map((s) => s.record));
    this.log.info({ meters: changed.length }, 'eUICC inventory updated');
  }

  private async applyToMeter(
    client: PoolClient,
    meterId: string,
    meterFacts: InventoryFact[],
  ): Promise<boolean> {
    const { rows } = await client.query<MeterState>(
      'SELECT inventory_at, notification_seq, status FROM registry.meters WHERE meter_id = $1 FOR UPDATE',
      [meterId],
    );
    const meter = rows[0];
    if (!meter || meter.status !== 'active') {
      facts.inc({ outcome: 'not_active' }, meterFacts.length);
      return false;
    }
    const { rows: before } = await client.query<{
      iccid: string;
      carrier_id: string;
      state: 'enabled' | 'disabled';
      fallback: boolean;
    }>(
      'SELECT iccid, carrier_id, state, fallback FROM registry.profiles WHERE meter_id = $1 ORDER BY iccid',
      [meterId],
    );
    const original: ManifestProfile[] = before.map((r) => ({
      iccid: r.iccid,
      carrierId: r.carrier_id,
      state: r.state,
      fallback: r.fallback,
    }));
    let profiles = original;
    let inventoryAt = meter.inventory_at?.getTime();
    let notificationSeq =
      meter.notification_seq === null ? undefined : Number(meter.notification_seq);
    let changed = false;
    for (const fact of meterFacts) {
      if (this.isOld(fact, inventoryAt, notificationSeq)) continue;
      if (fact.notificationSeq !== undefined) notificationSeq = fact.notificationSeq;
      inventoryAt = Math.max(inventoryAt ?? 0, Date.parse(fact.at));
      const outcome = applyInventoryChange(profiles, fact.change);
      if (outcome.unknown.length > 0) {
        facts.inc({ outcome: 'unknown_profile' });
        this.log.warn(
          { meterId, iccids: outcome.unknown, change: fact.change.kind },
          'the eUICC names a profile the registry does not know (its carrier is unknown)',
        );
      }
      if (!outcome.changed) {
        facts.inc({ outcome: 'unchanged' });
        continue;
      }
      facts.inc({ outcome: 'applied' });
      profiles = outcome.profiles;
      changed = true;
      await this.audit.append(
        fact.actor,
        `inventory.${fact.change.kind}`,
        meterId,
        { ...fact.source, observedAt: fact.at },
        client,
      );
    }
    if (changed) await this.writeProfiles(client, meterId, original, profiles);
    await client.query(
      `UPDATE registry.meters SET inventory_at = $2, notification_seq = $3,
         revision = revision + $4, updated_at = now() WHERE meter_id = $1`,
      [
        meterId,
        inventoryAt === undefined ? null : new Date(inventoryAt),
        notificationSeq ?? null,
        changed ? 1 : 0,
      ],
    );
    return changed;
  }

  /**
   * Facts come from three topics and are ordered by the platform's clock (when ingestion received
   * what the meter said, when the orchestrator completed a swap), never by a meter's clock, which
   * drifts: a fact older than the state already applied changes nothing. Notifications are also
   * applied once each by seqNumber, as a meter repeats them until they are acknowledged.
   */
  private isOld(fact: InventoryFact, inventoryAt?: number, notificationSeq?: number): boolean {
    const repeated =
      fact.notificationSeq !== undefined &&
      notificationSeq !== undefined &&
      fact.notificationSeq <= notificationSeq;
    const old = repeated || (inventoryAt !== undefined && Date.parse(fact.at) < inventoryAt);
    if (old) facts.inc({ outcome: repeated ? 'repeated' : 'old' });
    return old;
  }

  private async writeProfiles(
    client: PoolClient,
    meterId: string,
    before: ManifestProfile[],
    after: ManifestProfile[],
  ): Promise<void> {
    const kept = new Set(after.map((p) => p.iccid));
    const removed = before.filter((p) => !kept.has(p.iccid)).map((p) => p.iccid);
    if (removed.length > 0)
      await client.query('DELETE FROM registry.profiles WHERE meter_id = $1 AND iccid = ANY($2)', [
        meterId,
        removed,
      ]);
    const previous = new Map(before.map((p) => [p.iccid, p]));
    for (const p of after) {
      const old = previous.get(p.iccid);
      if (old && old.state === p.state && old.fallback === p.fallback) continue;
      await client.query(
        'UPDATE registry.profiles SET state = $3, fallback = $4, updated_at = now() WHERE meter_id = $1 AND iccid = $2',
        [meterId, p.iccid, p.state, p.fallback],
      );
    }
  }
}
