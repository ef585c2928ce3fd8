import { randomUUID } from 'node:crypto';
import { ConfigResourceTypes, ConfigSource, Kafka, logLevel, type Admin } from 'kafkajs';

export type Offsets = Map<number, number>;
export type RecordSink = (key: Buffer | null, value: Buffer | null, timestampMs: number) => void;

const TIMESTAMP_TYPE = 'message.timestamp.type';

/**
 * The bench's own view of Kafka: it counts what arrived, so it reads topics directly with kafkajs
 * (record keys, values and timestamps) instead of going through the services' producer/consumer
 * library, which is part of the system under test.
 */
export class BenchKafka {
  private readonly kafka: Kafka;
  private readonly admin: Admin;

  constructor(brokers: string[]) {
    // Quiet: kafkajs logs retriable conditions (a fresh broker's group coordinator starting up) as
    // errors; what does not recover is thrown and reported by the run.
    this.kafka = new Kafka({ clientId: 'meterlink-bench', brokers, logLevel: logLevel.NOTHING });
    this.admin = this.kafka.admin();
  }

  async connect(): Promise<void> {
    await this.admin.connect();
  }

  async close(): Promise<void> {
    await this.admin.disconnect();
  }

  /**
   * Makes the broker stamp each record with its append time (`LogAppendTime`), so a record's
   * timestamp is when Kafka took it, i.e. when the producer's acknowledgement was due, on the same
   * clock as the schedule. Only ever done on the bench's own stack. Creates the topics that do
   * not exist yet (the baseline bridge's); returns the verified timestamp type per topic.
   */
  async useLogAppendTime(topics: string[], partitions: number): Promise<Record<string, string>> {
    const existing = new Set(await this.admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t));
    if (missing.length > 0) {
      await this.admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((topic) => ({
          topic,
          numPartitions: partitions,
          replicationFactor: 1,
          configEntries: [
            { name: TIMESTAMP_TYPE, value: 'LogAppendTime' },
            { name: 'retention.ms', value: String(24 * 3600 * 1000) },
          ],
        })),
      });
    }
    const described = await this.describe(topics);
    // AlterConfigs (kafkajs has no incremental variant) replaces a topic's whole set of
    // overrides: carry the existing ones over so retention and cleanup policy stay as they were.
    const toAlter = topics.filter((t) => described[t]?.get(TIMESTAMP_TYPE) !== 'LogAppendTime');
    if (toAlter.length > 0) {
      await this.admin.alterConfigs({
        validateOnly: false,
        resources: toAlter.map((name) => ({
          type: ConfigResourceTypes.TOPIC,
          name,
          configEntries: [
            ...[...(described[name]?.overrides ?? [])]
              .filter(([key]) => key !== TIMESTAMP_TYPE)
              .map(([key, value]) => ({ name: key, value })),
            { name: TIMESTAMP_TYPE, value: 'LogAppendTime' },
          ],
        })),
      });
    }
    const verified = await this.describe(topics);
    return Object.fromEntries(topics.map((t) => [t, verified[t]?.get(TIMESTAMP_TYPE) ?? '?']));
  }

  private async describe(
    topics: string[],
  ): Promise<
    Record<string, { get(key: string): string | undefined; overrides: Map<string, string> }>
  > {
    const { resources } = await this.admin.describeConfigs({
      includeSynonyms: false,
      resources: topics.map((name) => ({ type: ConfigResourceTypes.TOPIC, name })),
    });
    const result: Record<
      string,
      { get(key: string): string | undefined; overrides: Map<string, string> }
    > = {};
    for (const r of resources) {
      const all = new Map(r.configEntries.map((e) => [e.configName, e.configValue]));
      const overrides = new Map(
        r.configEntries
          .filter((e) => e.configSource === ConfigSource.TOPIC_CONFIG)
          .map((e) => [e.configName, e.configValue]),
      );
      result[r.resourceName] = { get: (key) => all.get(key), overrides };
    }
    return result;
  }

  async endOffsets(topic: string): Promise<Offsets> {
    const offsets = await this.admin.fetchTopicOffsets(topic);
    return new Map(offsets.map((o) => [o.partition, Number(o.high)]));
  }

  /** Records appended to `topic` since `start`. */
  async appendedSince(topic: string, start: Offsets): Promise<number> {
    const end = await this.endOffsets(topic);
    let n = 0;
    for (const [partition, high] of end) n += high - (start.get(partition) ?? 0);
    return n;
  }

  /**
   * Reads every record of `topic` in [start, end) per partition and hands it to `sink`. A
   * throwaway consumer group positioned by seek; nothing is committed, the group is deleted.
   */
  async readRange(topic: string, start: Offsets, end: Offsets, sink: RecordSink): Promise<number> {
    const remaining = new Set(
      [...end].filter(([p, high]) => high > (start.get(p) ?? 0)).map(([p]) => p),
    );
    if (remaining.size === 0) return 0;
    const groupId = `meterlink-bench-${randomUUID()}`;
    const consumer = this.kafka.consumer({
      groupId,
      maxBytesPerPartition: 16 * 1024 * 1024,
      maxBytes: 64 * 1024 * 1024,
      maxWaitTimeInMs: 250,
    });
    const nextOffset = new Map<number, number>();
    let read = 0;
    let lastProgress = Date.now();
    try {
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: false });
      let finish: () => void = () => undefined;
      const done = new Promise<void>((resolve) => (finish = resolve));
      await consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          const until = end.get(batch.partition) ?? 0;
          let next = nextOffset.get(batch.partition) ?? start.get(batch.partition) ?? 0;
          for (const m of batch.messages) {
            const offset = Number(m.offset);
            // A fetch that started before the seek landed may deliver records outside the range,
            // or again: each offset in [start, end) counts once.
            if (offset < next || offset >= until) continue;
            sink(m.key, m.value, Number(m.timestamp));
            next = offset + 1;
            read++;
          }
          nextOffset.set(batch.partition, next);
          lastProgress = Date.now();
          if (Number(batch.lastOffset()) >= until - 1 && remaining.delete(batch.partition)) {
            if (remaining.size === 0) finish();
          }
          await Promise.resolve();
        },
      });
      for (const partition of end.keys()) {
        consumer.seek({ topic, partition, offset: String(start.get(partition) ?? 0) });
      }
      await new Promise<void>((resolve, reject) => {
        const watchdog = setInterval(() => {
          if (Date.now() - lastProgress > 60_000) {
            clearInterval(watchdog);
            reject(new Error(`reading ${topic}: no progress for 60 s (${read} records read)`));
          }
        }, 1_000);
        void done.then(() => {
          clearInterval(watchdog);
          resolve();
        });
      });
    } finally {
      await consumer.disconnect().catch(() => undefined);
      await this.admin.deleteGroups([groupId]).catch(() => undefined);
    }
    return read;
  }
}
