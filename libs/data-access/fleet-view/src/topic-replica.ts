import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { BatchConsumer, highWatermarks } from '@meterlink/kafka';

/**
 * A process-local copy of compacted topics: replayed from the start on every boot under a
 * throw-away group (nothing is committed), then kept current. "Caught up" means every record
 * that existed when it started has been applied.
 */
export class TopicReplica {
  private consumer: BatchConsumer | undefined;
  private targets: Map<string, string> | undefined;

  constructor(
    private readonly kafka: Kafka,
    private readonly groupPrefix: string,
    private readonly topics: readonly string[],
    private readonly apply: (values: readonly unknown[]) => void,
  ) {}

  async start(): Promise<void> {
    this.targets = await highWatermarks(this.kafka, [...this.topics]);
    this.consumer = new BatchConsumer(this.kafka, {
      groupId: `${this.groupPrefix}.${randomUUID()}`,
      topics: [...this.topics],
      fromBeginning: true,
      commit: false,
      handler: async (batch) => {
        this.apply(batch.records.map((r) => r.value));
        await Promise.resolve();
      },
    });
    await this.consumer.start();
  }

  isCaughtUp(): boolean {
    if (!this.targets || !this.consumer) return false;
    const positions = this.consumer.positions();
    for (const [tp, high] of this.targets) {
      if (high === '0') continue;
      const pos = positions.get(tp);
      if (!pos || BigInt(pos) < BigInt(high)) return false;
    }
    return true;
  }

  async waitUntilCaughtUp(what: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.isCaughtUp()) {
      if (Date.now() > deadline) throw new Error(`${what} did not catch up in time`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(): Promise<void> {
    await this.consumer?.stop();
  }
}
