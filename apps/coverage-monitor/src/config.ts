import { z } from 'zod';
import { baseConfigShape, env, loadConfig } from '@meterlink/config';

export const coverageConfigSchema = z
  .object({
    ...baseConfigShape,
    HTTP_PORT: env.port(3003),
    REDIS_URL: z.string().regex(/^rediss?:\/\//, 'must be a redis:// URL'),
    COVERAGE_ENTRY_RSRP_DBM: z.coerce.number().default(-115),
    COVERAGE_EXIT_RSRP_DBM: z.coerce.number().default(-105),
    COVERAGE_ENTRY_REPORTS: env.int(3, 1),
    COVERAGE_EXIT_REPORTS: env.int(2, 1),
    COVERAGE_ENTRY_ATTACH_FAILURES: env.int(3, 1),
    COVERAGE_SILENCE_GRACE_FACTOR: z.coerce.number().min(1).default(1.5),
    COVERAGE_SILENCE_MIN_GRACE_MS: env.int(2_000),
    /** How often due silence deadlines are looked for (bounds detection latency). */
    COVERAGE_SWEEP_INTERVAL_MS: env.int(250, 10),
  })
  .refine((c) => c.COVERAGE_EXIT_RSRP_DBM > c.COVERAGE_ENTRY_RSRP_DBM, {
    path: ['COVERAGE_EXIT_RSRP_DBM'],
    message: 'must be above COVERAGE_ENTRY_RSRP_DBM (hysteresis)',
  });
export type CoverageConfig = z.infer<typeof coverageConfigSchema>;
export const loadCoverageConfig = (): CoverageConfig =>
  loadConfig(coverageConfigSchema as unknown as z.ZodObject) as CoverageConfig;
