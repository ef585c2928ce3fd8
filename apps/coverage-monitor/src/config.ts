import { z } from 'zod';
import { baseConfigShape, env, loadConfig } from '@meterlink/config';
import { DEFAULT_LAYOUT } from './state/layout';
import {
  DEFAULT_OUTAGE_POLICY,
  policyProblems,
  resolvePolicy,
  type MeterKind,
  type OutagePolicy,
  type PolicyOverride,
} from '@meterlink/coverage-domain';

const number = (fallback: number) => z.coerce.number().finite().default(fallback);
const share = (fallback: number) => z.coerce.number().min(0).max(1).default(fallback);

const signalOverrideSchema = z
  .object({
    entryRsrpDbm: z.number(),
    exitRsrpDbm: z.number(),
    entryRsrqDb: z.number(),
    exitRsrqDb: z.number(),
    entrySinrDb: z.number(),
    exitSinrDb: z.number(),
    entryAttachFailures: z.number().int().min(1),
    entryReports: z.number().int().min(1).max(255),
    exitReports: z.number().int().min(1).max(255),
  })
  .partial()
  .strict();
const silenceOverrideSchema = z
  .object({ graceFactor: z.number().min(1), minGraceMs: z.number().int().min(0) })
  .partial()
  .strict();
const overrideSchema = z
  .object({
    kind: z.enum(['electricity', 'gas', 'water']).optional(),
    region: z.string().min(1).optional(),
    signal: signalOverrideSchema.optional(),
    silence: silenceOverrideSchema.optional(),
  })
  .strict();

/** `COVERAGE_POLICY_OVERRIDES`: a JSON array of per kind and/or region overrides. */
const overridesSchema = z
  .string()
  .default('[]')
  .transform((text, ctx): PolicyOverride[] => {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be a JSON array' });
      return z.NEVER;
    }
    const parsed = z.array(overrideSchema).safeParse(json);
    if (!parsed.success) {
      ctx.addIssue({
        code: 'custom',
        message: parsed.error.issues.map((i) => `[${i.path.join('.')}] ${i.message}`).join('; '),
      });
      return z.NEVER;
    }
    return parsed.data;
  });

export const coverageConfigSchema = z
  .object({
    ...baseConfigShape,
    HTTP_PORT: env.port(3003),
    REDIS_URL: z.string().regex(/^rediss?:\/\//, 'must be a redis:// URL'),
    /** Stable and unique per replica: a restarted replica recovers what its previous life left. */
    COVERAGE_REPLICA_ID: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,64}$/)
      .default('0'),
    COVERAGE_POLICY_OVERRIDES: overridesSchema,
    /** Redis hash-tag shards (Cluster slots the state spreads over); fixed once data exists. */
    COVERAGE_SHARDS: env.int(DEFAULT_LAYOUT.shards, 1),
    /** State buckets (small hashes); fixed once data exists. ~15 meters each at 1M meters. */
    COVERAGE_BUCKETS: env.int(DEFAULT_LAYOUT.buckets, 1),
    /** Resolution of the deadline wheel; fixed once data exists. */
    COVERAGE_WHEEL_SLOT_MS: env.int(DEFAULT_LAYOUT.slotMs, 10),
    /** How often due silence deadlines are looked for (bounds detection lateness). */
    COVERAGE_SWEEP_INTERVAL_MS: env.int(100, 10),
    /** How often carrier × region shares are evaluated. */
    COVERAGE_OUTAGE_EVAL_INTERVAL_MS: env.int(1_000, 50),
    COVERAGE_OUTAGE_WINDOW_S: number(DEFAULT_OUTAGE_POLICY.windowMs / 1000),
    COVERAGE_OUTAGE_BASELINE_HALF_LIFE_S: number(DEFAULT_OUTAGE_POLICY.baselineHalfLifeMs / 1000),
    COVERAGE_OUTAGE_MIN_POPULATION: env.int(DEFAULT_OUTAGE_POLICY.minPopulation, 1),
    COVERAGE_OUTAGE_MIN_AFFECTED: env.int(DEFAULT_OUTAGE_POLICY.minAffected, 1),
    COVERAGE_OUTAGE_ENTRY_EXCESS: share(DEFAULT_OUTAGE_POLICY.entryExcess),
    COVERAGE_OUTAGE_ENTRY_RISE: share(DEFAULT_OUTAGE_POLICY.entryRise),
    COVERAGE_OUTAGE_EXIT_EXCESS: share(DEFAULT_OUTAGE_POLICY.exitExcess),
    COVERAGE_OUTAGE_RECOVERY_HOLD_S: number(DEFAULT_OUTAGE_POLICY.recoveryHoldMs / 1000),
    /**
     * Meters reporting at most this often are the ones an outage is judged on; a daily meter says
     * nothing about the last 15 minutes (used alone only where a carrier has no faster meters).
     */
    COVERAGE_OUTAGE_RESPONSIVE_INTERVAL_S: env.int(3_600, 1),
    /** Leadership (sweeping, correlation, recovery) lapses this long after its holder dies. */
    COVERAGE_LEADER_TTL_MS: env.int(5_000, 500),
  })
  .superRefine((config, ctx) => {
    // Every kind in every region an override names must still have exits above entries.
    const regions = new Set(['(any)', ...config.COVERAGE_POLICY_OVERRIDES.map((o) => o.region)]);
    for (const kind of ['electricity', 'gas', 'water'] as MeterKind[])
      for (const region of regions) {
        if (region === undefined) continue;
        const problems = policyProblems(
          resolvePolicy(kind, region, config.COVERAGE_POLICY_OVERRIDES),
        );
        for (const problem of problems)
          ctx.addIssue({
            code: 'custom',
            path: ['COVERAGE_POLICY_OVERRIDES'],
            message: `${kind} meters in ${region}: ${problem}`,
          });
      }
  });
export type CoverageConfig = z.infer<typeof coverageConfigSchema>;

export const loadCoverageConfig = (): CoverageConfig =>
  loadConfig(coverageConfigSchema as unknown as z.ZodObject) as CoverageConfig;

export function outagePolicyOf(config: CoverageConfig): OutagePolicy {
  return {
    windowMs: config.COVERAGE_OUTAGE_WINDOW_S * 1000,
    baselineHalfLifeMs: config.COVERAGE_OUTAGE_BASELINE_HALF_LIFE_S * 1000,
    minPopulation: config.COVERAGE_OUTAGE_MIN_POPULATION,
    minAffected: config.COVERAGE_OUTAGE_MIN_AFFECTED,
    entryExcess: config.COVERAGE_OUTAGE_ENTRY_EXCESS,
    entryRise: config.COVERAGE_OUTAGE_ENTRY_RISE,
    exitExcess: config.COVERAGE_OUTAGE_EXIT_EXCESS,
    recoveryHoldMs: config.COVERAGE_OUTAGE_RECOVERY_HOLD_S * 1000,
  };
}
