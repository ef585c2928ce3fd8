import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { TOPICS, type MeterConnectivityRecord } from '@meterlink/contracts';
import type { ConsumedBatch } from '@meterlink/kafka';
import { TrackSignalService } from './track-signal.service';

@Controller()
export class TrackSignalConsumer {
  constructor(private readonly signal: TrackSignalService) {}

  @EventPattern(TOPICS.meterConnectivity.name)
  async onConnectivity(@Payload() batch: ConsumedBatch<MeterConnectivityRecord>): Promise<void> {
    await this.signal.applyBatch(batch);
  }
}
