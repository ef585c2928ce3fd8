import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { TOPICS, type MeterConnectivityRecord } from '@meterlink/contracts';
import { forEachRecord, type ConsumedBatch } from '@meterlink/kafka';
import { SwapSagaService } from '../swap-saga.service';
import { ActiveSwapsCache } from './active-swaps.cache';
import { SwapsRepository } from '../swaps.repository';

@Controller()
export class ConfirmSwapConsumer {
  constructor(
    private readonly saga: SwapSagaService,
    private readonly active: ActiveSwapsCache,
    private readonly swaps: SwapsRepository,
  ) {}

  @EventPattern(TOPICS.meterConnectivity.name)
  async onConnectivity(@Payload() batch: ConsumedBatch<MeterConnectivityRecord>): Promise<void> {
    // Battery meters' charge, latest per meter of the batch, for the swap policy.
    const latest = new Map<string, { meterId: string; pct: number; at: string }>();
    for (const { value } of batch.records)
      if (value.batteryPct !== undefined && (latest.get(value.meterId)?.at ?? '') < value.at)
        latest.set(value.meterId, { meterId: value.meterId, pct: value.batteryPct, at: value.at });
    await this.swaps.saveBatteries(this.swaps.pool, [...latest.values()]);
    await forEachRecord(batch, async (record) => {
      if (this.active.has(record.value.meterId))
        await this.saga.onConnectivity(record.value, record.correlationId);
    });
  }
}
