import type { Kafka } from 'kafkajs';
import { TOPICS } from '@meterlink/contracts';
import { readTopicRange } from '../kafka-range';

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
  const ids = new Set<string>();
  await readTopicRange(
    kafka,
    TOPICS.coverageEvents.name,
    sinceMs,
    (_, messages) => {
      for (const message of messages) {
        try {
          const value = JSON.parse(message.value?.toString('utf8') ?? 'null') as {
            eventId?: unknown;
          } | null;
          if (typeof value?.eventId === 'string') ids.add(value.eventId);
        } catch {
          // Not ours to judge here; the consumers dead-letter it.
        }
      }
      return Promise.resolve();
    },
    { timeoutMs, groupPrefix: 'coverage-monitor.verify' },
  );
  return ids;
}
