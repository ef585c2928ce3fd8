import { z } from 'zod';
import { baseConfigShape, env, loadConfig } from '@meterlink/config';

export const registryConfigSchema = z.object({
  ...baseConfigShape,
  HTTP_PORT: env.port(3001),
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL'),
  MQTT_URL: z.string().regex(/^mqtts?:\/\//, 'must be an mqtt:// or mqtts:// URL'),
  MQTT_ADMIN_USERNAME: z.string().min(1),
  MQTT_ADMIN_PASSWORD: env.secret(),
  /** Operator API tokens: `token:role` pairs, comma-separated; roles viewer, operator, admin. */
  REGISTRY_API_TOKENS: env
    .csv()
    .pipe(
      z
        .array(
          z
            .string()
            .regex(
              /^[^:]{16,}:(viewer|operator|admin)$/,
              'each entry must be <token of 16+ chars>:<viewer|operator|admin>',
            ),
        )
        .min(1),
    ),
  IMPORT_BATCH_SIZE: env.int(500, 1),
});
export type RegistryConfig = z.infer<typeof registryConfigSchema>;
export const loadRegistryConfig = (): RegistryConfig => loadConfig(registryConfigSchema);
