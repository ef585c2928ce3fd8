import { z } from 'zod';
import { env, loadConfig } from '@meterlink/config';

export const smdpSimConfigShape = {
  LOG_LEVEL: env.logLevel(),
  SMDP_SIM_PORT: env.port(3090),
  /** 127.0.0.1 by default: a test tool, not for other machines unless asked. */
  SMDP_SIM_HOST: z.string().min(1).default('127.0.0.1'),
  SMDP_ORDER_TTL_S: env.int(86_400, 1),
  /** What confirmOrder answers as the SM-DP+ address (`{carrierId}` replaced). */
  SMDP_ADDRESS_TEMPLATE: z.string().includes('{carrierId}').default('smdp.{carrierId}.example'),
};
export const smdpSimEnvSchema = z.object(smdpSimConfigShape);
export type SmdpSimEnv = z.infer<typeof smdpSimEnvSchema>;

export const loadSmdpSimEnv = (source: NodeJS.ProcessEnv = process.env): SmdpSimEnv =>
  loadConfig(smdpSimEnvSchema, source);
