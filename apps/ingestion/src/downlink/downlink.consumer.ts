import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { TOPICS, type EsipaOutboundRecord } from '@meterlink/contracts';
import { forEachRecord, type ConsumedBatch } from '@meterlink/kafka';
import { DownlinkService } from './downlink.service';

@Controller()
export class DownlinkConsumer {
  constructor(private readonly downlink: DownlinkService) {}

  @EventPattern(TOPICS.esipaOutbound.name)
  async onOutbound(@Payload() batch: ConsumedBatch<EsipaOutboundRecord>): Promise<void> {
    await forEachRecord(batch, (record) => this.downlink.deliver(record.value));
  }
}
