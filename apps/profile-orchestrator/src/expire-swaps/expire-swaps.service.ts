import { Inject, Injectable } from '@nestjs/common';
import { createLogger } from '@meterlink/observability';
import { ORCHESTRATOR_CONFIG } from '../tokens';
import type { OrchestratorConfig } from '../config';
import { SwapSagaService } from '../swap-saga.service';

/**
 * Applies the deadlines stored with each swap and takes the ES2+ steps that are due; no swap
 * depends on a timer in memory.
 */
@Injectable()
export class ExpireSwapsService {
  private readonly log = createLogger('ExpireSwapsService');
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  constructor(
    @Inject(ORCHESTRATOR_CONFIG) private readonly config: OrchestratorConfig,
    private readonly saga: SwapSagaService,
  ) {}

  start(): void {
    const tick = (): void => {
      if (this.stopped) return;
      Promise.all([this.saga.expireDue(), this.saga.advanceOrders()])
        .catch((error: unknown) => this.log.warn({ err: error }, 'expiry sweep failed'))
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(tick, this.config.SWEEP_INTERVAL_MS);
        });
    };
    tick();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
