import type { Admin, Kafka } from 'kafkajs';
import { TOPICS } from '@meterlink/contracts';
import { gauge } from '@meterlink/observability';
import type { CoverageStateRepository } from '../state/coverage-state.repository';

const watermarkLag = gauge(
  'coverage_input_watermark_lag_seconds',
  'How far behind now the applied input is: silence is only declared up to this point',
);

/**
 * The instants up to which every connectivity report has been applied to coverage state. A
 * meter is silent only if its deadline passed before this: after a restart, a rebalance or under
 * lag, its report may still be waiting in Kafka, and declaring it lost would be wrong.
 *
 * Per partition: caught up (applied up to the high watermark) counts as "up to when the high
 * watermark was read"; behind, as "up to the timestamp of the last record applied". A meter's
 * deadline is judged against the partition its reports arrive on, so one lagging partition does
 * not hold back the rest.
 */
export interface Watermarks {
  byPartition: Map<number, number>;
  /** The oldest partition's (for meters whose partition is not known). */
  lowest: number;
  /** The most advanced partition's: no deadline after it can be judged yet. */
  highest: number;
}

export class InputWatermark {
  private admin: Promise<Admin> | undefined;

  constructor(
    private readonly kafka: Kafka,
    private readonly states: CoverageStateRepository,
    private readonly groupId: string,
  ) {}

  async current(): Promise<Watermarks> {
    const admin = await this.connected();
    const readAt = Date.now();
    const topic = TOPICS.meterConnectivity.name;
    const [highs, progress] = await Promise.all([
      admin.fetchTopicOffsets(topic),
      this.states.progress(),
    ]);
    let committed: Map<number, bigint> | undefined;
    const byPartition = new Map<number, number>();
    for (const { partition, high } of highs) {
      const highOffset = BigInt(high);
      const applied = progress.get(partition);
      let watermark = readAt;
      if (applied) {
        if (applied.nextOffset < highOffset) watermark = applied.lastTimestamp;
      } else if (highOffset > 0n) {
        // Nothing recorded (a fresh Redis): caught up only if the group has nothing left to read.
        committed ??= await this.committedOffsets(admin);
        const at = committed.get(partition);
        // A new group starts at the end.
        if (at !== undefined && at >= 0n && at < highOffset) watermark = 0;
      }
      byPartition.set(partition, watermark);
    }
    const values = [...byPartition.values()];
    const lowest = values.length > 0 ? Math.min(...values) : readAt;
    const highest = values.length > 0 ? Math.max(...values) : readAt;
    watermarkLag.set(Math.max(0, (Date.now() - lowest) / 1000));
    return { byPartition, lowest, highest };
  }

  private async committedOffsets(admin: Admin): Promise<Map<number, bigint>> {
    const result = new Map<number, bigint>();
    const groups = await admin.fetchOffsets({
      groupId: this.groupId,
      topics: [TOPICS.meterConnectivity.name],
    });
    for (const { partitions } of groups)
      for (const p of partitions) result.set(p.partition, BigInt(p.offset));
    return result;
  }

  private connected(): Promise<Admin> {
    this.admin ??= (async () => {
      const admin = this.kafka.admin();
      await admin.connect();
      return admin;
    })().catch((error: unknown) => {
      this.admin = undefined;
      throw error;
    });
    return this.admin;
  }

  async stop(): Promise<void> {
    const admin = await this.admin?.catch(() => undefined);
    await admin?.disconnect();
  }
}
