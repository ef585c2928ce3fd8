import { z } from 'zod';
import { baseConfigShape, env, loadConfig } from '@meterlink/config';

export const ingestionConfigSchema = z.object({
  ...baseConfigShape,
  HTTP_PORT: env.port(3002),
  MQTT_URL: z.string().regex(/^mqtts?:\/\//, 'must be an mqtt:// or mqtts:// URL'),
  MQTT_INGESTION_USERNAME: z.string().min(1),
  MQTT_INGESTION_PASSWORD: env.secret(),
  /** Stable per replica, so a restarted replica resumes its persistent MQTT sessions. */
  INGESTION_REPLICA_ID: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,40}$/)
    .default('0'),
  /** MQTT connections in the shared subscription group; the broker spreads messages over them. */
  INGESTION_MQTT_CONNECTIONS: z.coerce.number().int().min(1).max(32).default(4),
  /** Replicas scaled away whose broker sessions this replica drains and ends at start (comma-separated ids). */
  INGESTION_DRAIN_REPLICA_IDS: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((id) => id.trim())
        .filter((id) => id.length > 0),
    )
    .pipe(z.array(z.string().regex(/^[A-Za-z0-9._-]{1,40}$/))),
  /** Unacknowledged QoS 1 messages per connection (MQTT 5 Receive Maximum): bounds memory while Kafka is away. */
  INGESTION_MQTT_RECEIVE_MAXIMUM: z.coerce.number().int().min(1).max(65_535).default(1_000),
  /** Attempts at a message failing for a reason other than Kafka or Redis being away, before it is dead-lettered. */
  INGESTION_MAX_ATTEMPTS: env.int(5, 1),
  REDIS_URL: z.string().regex(/^rediss?:\/\//, 'must be a redis:// URL'),
  /** How long an uplink from a meter not yet in the fleet view waits for it before rejection. */
  INGESTION_UNKNOWN_METER_WAIT_MS: env.int(2_000),
  KAFKA_LINGER_MS: env.int(2),
  /**
   * Records per produce request at most. The idempotent producer has one request in flight, so
   * under load this, divided by the request's round trip, caps throughput.
   */
  KAFKA_MAX_BATCH_RECORDS: env.int(16_000, 1),
  /**
   * The Kafka client under ingestion's producer: @platformatic/kafka by default (about 25 % more
   * messages per core than kafkajs, docs/benchmarks.md), kafkajs as the fallback. Both put a key
   * on the same partition (javaCompatiblePartition), so switching never reorders a meter.
   */
  KAFKA_PRODUCER_CLIENT: z.enum(['kafkajs', 'platformatic']).default('platformatic'),
  /**
   * Lease of a replica's claim on a (meterId, seq) it is writing, renewed while the write lasts:
   * how long a copy handed to another replica waits when the claiming replica died mid-write.
   */
  INGESTION_DEDUPE_CLAIM_MS: env.int(30_000, 1_000),
  /** One Redis script call per batch for dedupe; set false for Redis Cluster (keys span slots). */
  INGESTION_DEDUPE_BATCH_SCRIPTS: env.bool(true),
});
export type IngestionConfig = z.infer<typeof ingestionConfigSchema>;
export const loadIngestionConfig = (): IngestionConfig => loadConfig(ingestionConfigSchema);
