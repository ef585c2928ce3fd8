import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { TOPICS, type ProfileSwapRecord } from '@meterlink/contracts';
import type { ConsumedBatch } from '@meterlink/kafka';
import { TrackInventoryService } from './track-inventory.service';

@Controller()
export class TrackInventoryConsumer {
  constructor(private readonly inventory: TrackInventoryService) {}

  @EventPattern(TOPICS.profileSwaps.name)
  async onSwaps(@Payload() batch: ConsumedBatch<ProfileSwapRecord>): Promise<void> {
    await this.inventory.applyCompletedSwaps(
      batch.records.map((r) => r.value).filter((s) => s.state === 'completed'),
    );
  }
}
