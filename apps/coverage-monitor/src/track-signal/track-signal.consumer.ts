import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { TOPICS, type MeterConnectivityRecord } from '@meterlink/contracts';
import { forEachRecord, type ConsumedBatch } from '@meterlink/kafka';
import { CoverageEventsPublisher, type MeterTransition } from '../coverage-events.publisher';
import { TrackSignalService } from './track-signal.service';

@Controller()
export class TrackSignalConsumer {
  constructor(
    private readonly signal: TrackSignalService,
    private readonly events: CoverageEventsPublisher,
  ) {}

  @EventPattern(TOPICS.meterConnectivity.name)
  async onConnectivity(@Payload() batch: ConsumedBatch<MeterConnectivityRecord>): Promise<void> {
    const transitions: MeterTransition[] = [];
    await forEachRecord(batch, async (record) => {
      const transition = await this.signal.apply(record.value, record.correlationId);
      if (transition) transitions.push(transition);
    });
    // The state (with the transition marked pending) is stored before publishing and offsets are
    // committed after: a crash in between replays the batch, which re-emits the pending
    // transition under the same eventId instead of losing it.
    await this.events.publishMeterTransitions(transitions);
    await this.signal.published(transitions);
  }
}
