import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { TOPICS } from '@meterlink/contracts';

/**
 * The eventIds on coverage.events.v1 since a point in time. Recovery asks this before
 * re-publishing a transition a crash left pending: it may have reached Kafka just before the
 * crash, and then it must not appear twice.
 */
export async function publishedEventIds(
  kafka: Kafka,
  sinceMs: number,
  timeoutMs = 60_000,
): Promise<Set<string>> {
  const topic = TOPICS.coverageEvents.name;
  const admin = kafka.admin();
  await admin.connect();
  const groupId = `coverage-monitor.verify.${randomUUID()}`;
  try {
    const starts = await admin.fetchTopicOffsetsByTimestamp(topic, sinceMs);
    const highs = await admin.fetchTopicOffsets(topic);
    const ends = new Map<number, bigint>();
    for (const { partition, high } of highs) {
      const start = starts.find((s) => s.partition === partition);
      if (start && BigInt(start.offset) < BigInt(high)) ends.set(partition, BigInt(high));
    }
    const ids = new Set<string>();
    if (ends.size === 0) return ids;
    await admin.setOffsets({
      groupId,
      topic,
      partitions: highs.map(({ partition, high }) => ({
        partition,
        offset: ends.has(partition) ? starts.find((s) => s.partition === partition)!.offset : high,
      })),
    });
    const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100 });
    const reached = new Set<number>();
    let finish: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    await consumer.connect();
    try {
      await consumer.subscribe({ topic });
      await consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          for (const message of batch.messages) {
            try {
              const value = JSON.parse(message.value?.toString('utf8') ?? 'null') as {
                eventId?: unknown;
              } | null;
              if (typeof value?.eventId === 'string') ids.add(value.eventId);
            } catch {
              // Not ours to judge here; the consumers dead-letter it.
            }
          }
          const last = batch.messages.at(-1);
          const end = ends.get(batch.partition);
          if (last && end !== undefined && BigInt(last.offset) + 1n >= end)
            reached.add(batch.partition);
          if (reached.size === ends.size) finish();
          await Promise.resolve();
        },
      });
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`coverage.events.v1 not read to its end within ${timeoutMs} ms`)),
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
    return ids;
  } finally {
    await admin.deleteGroups([groupId]).catch(() => undefined);
    await admin.disconnect();
  }
}
