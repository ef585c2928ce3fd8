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
  /** Parallel MQTT connections in the shared subscription group (mqtt.js acks one message at a time per connection). */
  INGESTION_MQTT_CONNECTIONS: env.int(4, 1),
  REDIS_URL: z.string().regex(/^rediss?:\/\//, 'must be a redis:// URL'),
  /** How long an uplink from a meter not yet in the fleet view waits for it before rejection. */
  INGESTION_UNKNOWN_METER_WAIT_MS: env.int(2_000),
  KAFKA_LINGER_MS: env.int(2),
});
export type IngestionConfig = z.infer<typeof ingestionConfigSchema>;
export const loadIngestionConfig = (): IngestionConfig => loadConfig(ingestionConfigSchema);
