import { randomUUID } from 'node:crypto';
import type { Kafka, KafkaMessage } from 'kafkajs';

/**
 * Reads a topic from the first record at or after `sinceMs` up to its end as it was when the
 * call started, batch by batch, with a throw-away consumer group. Returns where it stopped (the
 * next offset per partition).
 */
export async function readTopicRange(
  kafka: Kafka,
  topic: string,
  sinceMs: number,
  onBatch: (partition: number, messages: KafkaMessage[]) => Promise<void>,
  options: { timeoutMs?: number; groupPrefix?: string } = {},
): Promise<Map<number, string>> {
  const admin = kafka.admin();
  await admin.connect();
  const groupId = `${options.groupPrefix ?? 'coverage-monitor.range'}.${randomUUID()}`;
  try {
    const starts = await admin.fetchTopicOffsetsByTimestamp(topic, sinceMs);
    const highs = await admin.fetchTopicOffsets(topic);
    const ends = new Map(highs.map(({ partition, high }) => [partition, high]));
    const pending = new Set<number>();
    for (const { partition, high } of highs) {
      const start = starts.find((s) => s.partition === partition);
      if (start && BigInt(start.offset) < BigInt(high)) pending.add(partition);
    }
    if (pending.size === 0) return ends;
    await admin.setOffsets({
      groupId,
      topic,
      partitions: highs.map(({ partition, high }) => ({
        partition,
        offset: pending.has(partition)
          ? starts.find((s) => s.partition === partition)!.offset
          : high,
      })),
    });
    const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100 });
    let failure: Error | undefined;
    let finish: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    await consumer.connect();
    try {
      await consumer.subscribe({ topic });
      await consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          if (failure || !pending.has(batch.partition)) return;
          const end = BigInt(ends.get(batch.partition)!);
          const messages = batch.messages.filter((m) => BigInt(m.offset) < end);
          try {
            if (messages.length > 0) await onBatch(batch.partition, messages);
          } catch (error) {
            failure = error instanceof Error ? error : new Error(String(error));
            finish();
            return;
          }
          const last = batch.messages.at(-1);
          if (last && BigInt(last.offset) + 1n >= end) {
            pending.delete(batch.partition);
            if (pending.size === 0) finish();
          }
        },
      });
      const timeoutMs = options.timeoutMs ?? 60_000;
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${topic} not read to its end within ${timeoutMs} ms`)),
          timeoutMs,
        );
      });
      try {
        await Promise.race([finished, timedOut]);
      } finally {
        clearTimeout(timer);
      }
    } finally {
      await consumer.disconnect();
    }
    if (failure) throw failure;
    return ends;
  } finally {
    await admin.deleteGroups([groupId]).catch(() => undefined);
    await admin.disconnect();
  }
}
