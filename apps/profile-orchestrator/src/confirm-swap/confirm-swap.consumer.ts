import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { TOPICS, type MeterConnectivityRecord } from '@meterlink/contracts';
import { forEachRecord, type ConsumedBatch } from '@meterlink/kafka';
import { SwapSagaService } from '../swap-saga.service';
import { ActiveSwapsCache } from './active-swaps.cache';

@Controller()
export class ConfirmSwapConsumer {
  constructor(
    private readonly saga: SwapSagaService,
    private readonly active: ActiveSwapsCache,
  ) {}

  @EventPattern(TOPICS.meterConnectivity.name)
  async onConnectivity(@Payload() batch: ConsumedBatch<MeterConnectivityRecord>): Promise<void> {
    await forEachRecord(batch, async (record) => {
      if (record.value.batteryPct !== undefined)
        this.saga.noteBattery(record.value.meterId, record.value.batteryPct);
      if (this.active.has(record.value.meterId))
        await this.saga.onConnectivity(record.value, record.correlationId);
    });
  }
}
