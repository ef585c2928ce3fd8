import { randomUUID } from 'node:crypto';
import type { Admin, Consumer, Kafka, Producer } from 'kafkajs';
import { TOPICS, type CoverageEventRecord } from '@meterlink/contracts';

/** A plain producer (several requests in flight): the bench must not be the bottleneck. */
export class BenchProducer {
  private readonly producer: Producer;
  constructor(kafka: Kafka) {
    this.producer = kafka.producer({ allowAutoTopicCreation: false });
  }
  connect(): Promise<void> {
    return this.producer.connect();
  }
  async send(topic: string, records: readonly { key: string; value: string }[]): Promise<void> {
    if (records.length === 0) return;
    await this.producer.send({ topic, acks: -1, messages: [...records] });
  }
  disconnect(): Promise<void> {
    return this.producer.disconnect();
  }
}

export interface GroupPosition {
  /** Sum over partitions of the group's committed offsets. */
  committed: bigint;
  /** Sum over partitions of the high watermarks. */
  end: bigint;
}

export async function groupPosition(admin: Admin, groupId: string, topic: string): Promise<GroupPosition> {
  const [highs, groups] = await Promise.all([
    admin.fetchTopicOffsets(topic),
    admin.fetchOffsets({ groupId, topics: [topic] }),
  ]);
  let end = 0n;
  for (const h of highs) end += BigInt(h.high);
  let committed = 0n;
  for (const g of groups)
    for (const p of g.partitions) {
      const offset = BigInt(p.offset);
      committed += offset < 0n ? 0n : offset;
    }
  return { committed, end };
}

export interface SeenEvent {
  record: CoverageEventRecord;
  arrivedAt: number;
}

/** Every coverage event written from now on, with when the bench received it. */
export class EventsWatcher {
  readonly events: SeenEvent[] = [];
  private consumer: Consumer | undefined;

  constructor(private readonly kafka: Kafka) {}

  async start(admin: Admin): Promise<void> {
    const topic = TOPICS.coverageEvents.name;
    const groupId = `bench-coverage-${randomUUID()}`;
    const highs = await admin.fetchTopicOffsets(topic);
    await admin.setOffsets({
      groupId,
      topic,
      partitions: highs.map((h) => ({ partition: h.partition, offset: h.high })),
    });
    const consumer = this.kafka.consumer({ groupId, maxWaitTimeInMs: 20, minBytes: 1 });
    this.consumer = consumer;
    await consumer.connect();
    await consumer.subscribe({ topic });
    let joined = false;
    consumer.on(consumer.events.GROUP_JOIN, () => (joined = true));
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const arrivedAt = Date.now();
        for (const m of batch.messages) {
          if (!m.value) continue;
          this.events.push({
            record: JSON.parse(m.value.toString('utf8')) as CoverageEventRecord,
            arrivedAt,
          });
        }
        await Promise.resolve();
      },
    });
    while (!joined) await new Promise((r) => setTimeout(r, 50));
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect();
  }
}
