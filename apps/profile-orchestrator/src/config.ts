import { z } from 'zod';
import { baseConfigShape, env, loadConfig } from '@meterlink/config';

export const orchestratorConfigSchema = z.object({
  ...baseConfigShape,
  HTTP_PORT: env.port(3004),
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL'),
  /** The eIM's private signing key (JWK, file mode 600); generated on first start when absent. */
  EIM_KEY_FILE: z.string().min(1),
  EIM_ID: z.string().min(1).default('meterlink-eim-1'),
  SWAP_COOLDOWN_S: env.int(6 * 3600),
  SWAP_ANTI_FLAP_WINDOW_S: env.int(7 * 86_400),
  /** Time after dispatch, on top of the meter's rollback window, before a swap expires. */
  SWAP_GRACE_S: env.int(60),
  SWEEP_INTERVAL_MS: env.int(500, 10),
});
export type OrchestratorConfig = z.infer<typeof orchestratorConfigSchema>;
export const loadOrchestratorConfig = (): OrchestratorConfig =>
  loadConfig(orchestratorConfigSchema);
