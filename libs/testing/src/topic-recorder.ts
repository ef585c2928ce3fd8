import { randomUUID } from 'node:crypto';
import type { Consumer, Kafka } from 'kafkajs';
import { eventually } from './eventually';

export interface RecordedMessage<T = Record<string, unknown>> {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: T;
}

/** Per topic, the offset of each partition to start reading at. */
export type TopicOffsets = Map<string, { partition: number; offset: string }[]>;

/** The current end of each partition of these topics: where a later recorder can start. */
export async function endOffsets(kafka: Kafka, topics: string[]): Promise<TopicOffsets> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const result: TopicOffsets = new Map();
    for (const topic of topics) {
      const offsets = await admin.fetchTopicOffsets(topic);
      result.set(
        topic,
        offsets.map((o) => ({ partition: o.partition, offset: o.high })),
      );
    }
    return result;
  } finally {
    await admin.disconnect();
  }
}

/**
 * Records everything written to some topics from the moment it starts (a fresh consumer group at
 * the end of each partition), or from offsets taken earlier, so a test can assert on what the
 * platform produced.
 */
export class TopicRecorder {
  readonly messages: RecordedMessage[] = [];
  private consumer: Consumer | undefined;

  constructor(
    private readonly kafka: Kafka,
    private readonly topics: string[],
  ) {}

  async start(from?: TopicOffsets): Promise<void> {
    // Start exactly at the current ends (or the given offsets), so earlier runs' records are not
    // seen and nothing written after start() resolves is missed.
    const starts = from ?? (await endOffsets(this.kafka, this.topics));
    const admin = this.kafka.admin();
    await admin.connect();
    const groupId = `test-recorder-${randomUUID()}`;
    for (const topic of this.topics) {
      await admin.setOffsets({ groupId, topic, partitions: starts.get(topic) ?? [] });
    }
    await admin.disconnect();
    this.consumer = this.kafka.consumer({ groupId, maxWaitTimeInMs: 50 });
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: this.topics, fromBeginning: false });
    let joined = false;
    this.consumer.on(this.consumer.events.GROUP_JOIN, () => (joined = true));
    await this.consumer.run({
      autoCommit: false,
      eachMessage: async ({ topic, partition, message }) => {
        this.messages.push({
          topic,
          partition,
          offset: message.offset,
          key: message.key?.toString() ?? null,
          value: JSON.parse(message.value?.toString() ?? 'null') as Record<string, unknown>,
        });
        await Promise.resolve();
      },
    });
    await eventually(() => joined, { timeoutMs: 30_000, what: 'test recorder to join its group' });
  }

  on<T = Record<string, unknown>>(topic: string, filter: (value: T) => boolean = () => true): T[] {
    return this.messages
      .filter((m) => m.topic === topic)
      .map((m) => m.value as T)
      .filter(filter);
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect();
  }
}
