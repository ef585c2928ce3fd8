import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import {
  TOPICS,
  type EsipaInboundRecord,
  type MeterEventRecord,
  type ProfileSwapRecord,
} from '@meterlink/contracts';
import type { ConsumedBatch } from '@meterlink/kafka';
import { notifiedChange } from './inventory-change';
import { TrackInventoryService, type InventoryFact } from './track-inventory.service';

@Controller()
export class TrackInventoryConsumer {
  constructor(private readonly inventory: TrackInventoryService) {}

  /** Completed swaps, the eIM's and the device fallbacks it recorded. */
  @EventPattern(TOPICS.profileSwaps.name)
  async onSwaps(@Payload() batch: ConsumedBatch<ProfileSwapRecord>): Promise<void> {
    await this.inventory.apply(
      batch.records
        .map((r) => r.value)
        .filter((s) => s.state === 'completed')
        .map<InventoryFact>((s) => ({
          meterId: s.meterId,
          at: s.at,
          change: { kind: 'enabled', iccid: s.toIccid },
          actor: 'eim',
          source: {
            swapId: s.swapId,
            fromIccid: s.fromIccid,
            toIccid: s.toIccid,
            trigger: s.trigger,
          },
        })),
    );
  }

  /** The eUICC's own notifications (the ESipa messages of other types are the eIM's business). */
  @EventPattern(TOPICS.esipaInbound.name)
  async onEsipa(@Payload() batch: ConsumedBatch<EsipaInboundRecord>): Promise<void> {
    const found: InventoryFact[] = [];
    for (const { value } of batch.records) {
      if (value.message.type !== 'notifications') continue;
      for (const n of value.message.notifications)
        found.push({
          meterId: value.meterId,
          at: value.receivedAt,
          change: notifiedChange(n),
          actor: 'meter',
          source: { notification: n.event, seqNumber: n.seqNumber, iccid: n.iccid, deviceAt: n.at },
          notificationSeq: n.seqNumber,
        });
    }
    await this.inventory.apply(found);
  }

  /** Boot events list every profile on the eUICC. */
  @EventPattern(TOPICS.meterEvents.name)
  async onEvents(@Payload() batch: ConsumedBatch<MeterEventRecord>): Promise<void> {
    await this.inventory.apply(
      batch.records
        .map((r) => r.value)
        .filter((e) => e.type === 'boot' && e.profiles !== undefined)
        .map<InventoryFact>((e) => ({
          meterId: e.meterId,
          at: e.receivedAt,
          change: { kind: 'reported', profiles: e.profiles! },
          actor: 'meter',
          source: { event: 'boot', seq: e.seq, fw: e.fw, deviceAt: e.at },
        })),
    );
  }
}
