import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { TOPICS, type CoverageEventRecord } from '@meterlink/contracts';
import { forEachRecord, type ConsumedBatch } from '@meterlink/kafka';
import { SwapSagaService } from '../swap-saga.service';

@Controller()
export class StartSwapConsumer {
  constructor(private readonly saga: SwapSagaService) {}

  @EventPattern(TOPICS.coverageEvents.name)
  async onCoverage(@Payload() batch: ConsumedBatch<CoverageEventRecord>): Promise<void> {
    await forEachRecord(batch, (record) => this.saga.onCoverageEvent(record.value));
  }
}
