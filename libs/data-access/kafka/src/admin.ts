import type { Kafka } from 'kafkajs';
import { ALL_TOPICS, type TopicDefinition } from '@meterlink/contracts';

/**
 * Creates the contract topics that are missing, with the partition counts and policies the
 * contracts declare; existing topics are left as they are (idempotent).
 */
export async function ensureTopics(
  kafka: Kafka,
  topics: readonly TopicDefinition[] = ALL_TOPICS,
): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t.name));
    if (missing.length > 0) {
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((t) => ({
          topic: t.name,
          numPartitions: t.partitions,
          replicationFactor: -1,
          configEntries: [
            { name: 'cleanup.policy', value: t.cleanupPolicy },
            { name: 'retention.ms', value: String(t.retentionMs) },
            { name: 'max.message.bytes', value: String(1_048_576) },
          ],
        })),
      });
    }
    return missing.map((t) => t.name);
  } finally {
    await admin.disconnect();
  }
}

/** High watermark per `topic:partition`, to know when a replayed local view has caught up. */
export async function highWatermarks(
  kafka: Kafka,
  topics: readonly string[],
): Promise<Map<string, string>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const result = new Map<string, string>();
    for (const topic of topics) {
      for (const p of await admin.fetchTopicOffsets(topic))
        result.set(`${topic}:${p.partition}`, p.high);
    }
    return result;
  } finally {
    await admin.disconnect();
  }
}
