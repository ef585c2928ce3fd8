import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { TOPICS, type CoverageEventRecord } from '@meterlink/contracts';
import { forEachRecord, type ConsumedBatch } from '@meterlink/kafka';
import { SwapSagaService } from '../swap-saga.service';
import { CampaignsService } from '../campaigns/campaigns.service';
import { latestCoverageStates } from '../policy/meter-radio';
import { SwapsRepository } from '../swaps.repository';

@Controller()
export class StartSwapConsumer {
  constructor(
    private readonly saga: SwapSagaService,
    private readonly campaigns: CampaignsService,
    private readonly swaps: SwapsRepository,
  ) {}

  @EventPattern(TOPICS.coverageEvents.name)
  async onCoverage(@Payload() batch: ConsumedBatch<CoverageEventRecord>): Promise<void> {
    // Every meter's coverage state, latest per meter of the batch: its cell peers' health for
    // the swap policy. Stored first, so that a decision below sees its peers' changes of the batch.
    await this.swaps.saveCoverageStates(
      this.swaps.pool,
      latestCoverageStates(batch.records.map((r) => r.value)),
    );
    await forEachRecord(batch, async (record) => {
      // Carrier events keep the outage table (targets, automatic campaigns); meter events may swap.
      if (record.value.type === 'carrier.outage' || record.value.type === 'carrier.recovered')
        await this.campaigns.onCarrierEvent(record.value);
      else await this.saga.onCoverageEvent(record.value);
    });
  }
}
