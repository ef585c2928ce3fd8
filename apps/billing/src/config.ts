import { z } from 'zod';
import { baseConfigShape, env, loadConfig } from '@meterlink/config';

export const billingConfigSchema = z.object({
  ...baseConfigShape,
  HTTP_PORT: env.port(3005),
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL'),
});
export type BillingConfig = z.infer<typeof billingConfigSchema>;
export const loadBillingConfig = (): BillingConfig => loadConfig(billingConfigSchema);
