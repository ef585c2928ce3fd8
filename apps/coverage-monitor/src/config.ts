import { z } from 'zod';
import { baseConfigShape, env, loadConfig } from '@meterlink/config';
import { DEFAULT_LAYOUT } from './state/layout';
import {
  DEFAULT_OUTAGE_POLICY,
  outagePolicyProblems,
  policyProblems,
  resolveOutagePolicy,
  resolvePolicy,
  type MeterKind,
  type OutageOverride,
  type OutagePolicy,
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

const outageOverrideSchema = z
  .object({
    region: z.string().min(1).optional(),
    carrierId: z.string().min(1).optional(),
    windowS: z.number().positive().optional(),
    baselineHalfLifeS: z.number().positive().optional(),
    minPopulation: z.number().int().min(1).optional(),
    minAffected: z.number().int().min(1).optional(),
    entryExcess: z.number().min(0).max(1).optional(),
    entryRise: z.number().min(0).max(1).optional(),
    exitExcess: z.number().min(0).max(1).optional(),
    recoveryHoldS: z.number().min(0).optional(),
  })
  .strict()
  .transform((o): OutageOverride => ({
    region: o.region,
    carrierId: o.carrierId,
    policy: {
      windowMs: o.windowS === undefined ? undefined : o.windowS * 1000,
      baselineHalfLifeMs:
        o.baselineHalfLifeS === undefined ? undefined : o.baselineHalfLifeS * 1000,
      minPopulation: o.minPopulation,
      minAffected: o.minAffected,
      entryExcess: o.entryExcess,
      entryRise: o.entryRise,
      exitExcess: o.exitExcess,
      recoveryHoldMs: o.recoveryHoldS === undefined ? undefined : o.recoveryHoldS * 1000,
    },
  }));

/** A JSON array in an environment variable, each element checked by `element`. */
const jsonArray = <T>(element: z.ZodType<T, unknown>) =>
  z
    .string()
    .default('[]')
    .transform((text, ctx): T[] => {
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be a JSON array' });
        return z.NEVER;
      }
      const parsed = z.array(element).safeParse(json);
      if (!parsed.success) {
        ctx.addIssue({
          code: 'custom',
          message: parsed.error.issues.map((i) => `[${i.path.join('.')}] ${i.message}`).join('; '),
        });
        return z.NEVER;
      }
      return parsed.data;
    });

/** `COVERAGE_POLICY_OVERRIDES`: a JSON array of per kind and/or region overrides. */
const overridesSchema = jsonArray(overrideSchema);

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
    /**
     * How often the leader restates every carrier × region's counts on coverage.carriers.v1 (the
     * swap policy's view of candidate carriers). 30 s: a policy decision is minutes-scale, and a
     * few hundred small records per interval cost nothing.
     */
    COVERAGE_STATS_INTERVAL_MS: env.int(30_000, 100),
    COVERAGE_OUTAGE_WINDOW_S: number(DEFAULT_OUTAGE_POLICY.windowMs / 1000),
    COVERAGE_OUTAGE_BASELINE_HALF_LIFE_S: number(DEFAULT_OUTAGE_POLICY.baselineHalfLifeMs / 1000),
    COVERAGE_OUTAGE_MIN_POPULATION: env.int(DEFAULT_OUTAGE_POLICY.minPopulation, 1),
    COVERAGE_OUTAGE_MIN_AFFECTED: env.int(DEFAULT_OUTAGE_POLICY.minAffected, 1),
    COVERAGE_OUTAGE_ENTRY_EXCESS: share(DEFAULT_OUTAGE_POLICY.entryExcess),
    COVERAGE_OUTAGE_ENTRY_RISE: share(DEFAULT_OUTAGE_POLICY.entryRise),
    COVERAGE_OUTAGE_EXIT_EXCESS: share(DEFAULT_OUTAGE_POLICY.exitExcess),
    COVERAGE_OUTAGE_RECOVERY_HOLD_S: number(DEFAULT_OUTAGE_POLICY.recoveryHoldMs / 1000),
    /**
     * Per region and/or carrier outage policies over the COVERAGE_OUTAGE_* defaults: a JSON array
     * of `{region?, carrierId?, windowS?, baselineHalfLifeS?, minPopulation?, minAffected?,
     * entryExcess?, entryRise?, exitExcess?, recoveryHoldS?}`.
     */
    COVERAGE_OUTAGE_OVERRIDES: jsonArray(outageOverrideSchema),
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
    // Every outage policy in effect (the base, and each carrier × region the overrides name,
    // crossed: a region's override and a carrier's combine) must be able to heal once open.
    // '(any)' stands for every carrier or region no override names.
    const base = outagePolicyOf(config);
    const outageOverrides = config.COVERAGE_OUTAGE_OVERRIDES;
    const named = (pick: (o: OutageOverride) => string | undefined): string[] => [
      '(any)',
      ...new Set(outageOverrides.map(pick).filter((v): v is string => v !== undefined)),
    ];
    for (const carrierId of named((o) => o.carrierId))
      for (const region of named((o) => o.region))
        for (const problem of outagePolicyProblems(
          resolveOutagePolicy(carrierId, region, base, outageOverrides),
        ))
          ctx.addIssue({
            code: 'custom',
            path: ['COVERAGE_OUTAGE_OVERRIDES'],
            message: `carrier ${carrierId} in region ${region}: ${problem}`,
          });
  });
export type CoverageConfig = z.infer<typeof coverageConfigSchema>;

export const loadCoverageConfig = (): CoverageConfig =>
  loadConfig(coverageConfigSchema as unknown as z.ZodObject) as CoverageConfig;

/** The outage policy of one carrier in one region: the COVERAGE_OUTAGE_* base and its overrides. */
export function outagePolicyFor(
  config: CoverageConfig,
  carrierId: string,
  region: string,
): OutagePolicy {
  return resolveOutagePolicy(
    carrierId,
    region,
    outagePolicyOf(config),
    config.COVERAGE_OUTAGE_OVERRIDES,
  );
}

export function outagePolicyOf(
  config: Omit<CoverageConfig, 'COVERAGE_OUTAGE_OVERRIDES'>,
): OutagePolicy {
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
