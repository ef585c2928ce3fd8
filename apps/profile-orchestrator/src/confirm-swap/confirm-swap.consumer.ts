import { Controller, Inject } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { TOPICS, type MeterConnectivityRecord } from '@meterlink/contracts';
import type { FleetView } from '@meterlink/fleet-view';
import { forEachRecord, type ConsumedBatch } from '@meterlink/kafka';
import type { OrchestratorConfig } from '../config';
import { latestRadioReports } from '../policy/meter-radio';
import { FLEET_VIEW, ORCHESTRATOR_CONFIG } from '../tokens';
import { SwapSagaService } from '../swap-saga.service';
import { ActiveSwapsCache } from './active-swaps.cache';
import { SwapsRepository } from '../swaps.repository';

/**
 * A stored RSRP is rewritten when it moves by this much: a static meter's readings wander by a
 * dB or two from one report to the next, and 3 dB is well inside the policy's margins (its
 * −120 dBm median threshold sits 5 dB from the LTE-M / NB-IoT degraded thresholds).
 */
const RSRP_STEP_DB = 3;

@Controller()
export class ConfirmSwapConsumer {
  constructor(
    @Inject(ORCHESTRATOR_CONFIG) private readonly config: OrchestratorConfig,
    @Inject(FLEET_VIEW) private readonly fleet: FleetView,
    private readonly saga: SwapSagaService,
    private readonly active: ActiveSwapsCache,
    private readonly swaps: SwapsRepository,
  ) {}

  @EventPattern(TOPICS.meterConnectivity.name)
  async onConnectivity(@Payload() batch: ConsumedBatch<MeterConnectivityRecord>): Promise<void> {
    // Every meter's radio (region, carrier, cell, RSRP, battery), latest per meter of the batch,
    // for the swap policy's cell-level coverage.
    await this.swaps.saveRadio(
      this.swaps.pool,
      latestRadioReports(
        batch.records.map((r) => r.value),
        (meterId) => this.fleet.meter(meterId)?.region,
      ),
      // A quarter of the peer window: a meter still reporting never ages out of its cell.
      { rsrpStepDb: RSRP_STEP_DB, refreshS: this.config.SWAP_CELL_PEER_WINDOW_S / 4 },
    );
    await forEachRecord(batch, async (record) => {
      if (this.active.has(record.value.meterId))
        await this.saga.onConnectivity(record.value, record.correlationId);
    });
  }
}
