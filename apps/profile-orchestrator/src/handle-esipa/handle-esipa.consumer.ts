import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { TOPICS, type EsipaInboundRecord } from '@meterlink/contracts';
import { forEachRecord, type ConsumedBatch } from '@meterlink/kafka';
import { SwapSagaService } from '../swap-saga.service';

@Controller()
export class HandleEsipaConsumer {
  constructor(private readonly saga: SwapSagaService) {}

  @EventPattern(TOPICS.esipaInbound.name)
  async onEsipa(@Payload() batch: ConsumedBatch<EsipaInboundRecord>): Promise<void> {
    await forEachRecord(batch, (record) => this.saga.onEsipa(record.value));
  }
}
