import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import {
  DEFAULT_FALLBACK_DELAY_S,
  DEFAULT_ROLLBACK_WINDOW_S,
  carrierCatalogueSchema,
  carrierIdSchema,
  meterKindSchema,
  regionSchema,
} from '@meterlink/contracts';

/** All durations in a scenario are FIELD seconds; the simulator divides them by `speedup`. */
const fieldSeconds = z.number().positive();
const fieldRange = z
  .tuple([z.number().nonnegative(), z.number().nonnegative()])
  .refine(([min, max]) => min <= max, 'range must be [min, max] with min <= max');

export const fleetGroupSchema = z.object({
  region: regionSchema,
  kind: meterKindSchema,
  carrierId: carrierIdSchema,
  count: z.number().int().positive().max(1_000_000),
  reportIntervalS: fieldSeconds,
  /** Carriers of the extra, disabled profiles the eUICC leaves the factory with. */
  otherProfiles: z.array(carrierIdSchema).default([]),
  /** Carrier of the profile that carries the fallback attribute (the enabled one or one of otherProfiles). */
  fallbackCarrierId: carrierIdSchema.optional(),
  rollbackWindowS: fieldSeconds.default(DEFAULT_ROLLBACK_WINDOW_S),
  fallbackDelayS: fieldSeconds.default(DEFAULT_FALLBACK_DELAY_S),
  signedTelemetry: z.boolean().default(false),
  tariffId: z.string().min(1).max(64).optional(),
  /** Initial battery level of battery-powered meters (gas, water), percent. */
  batteryPct: z
    .tuple([z.number().min(0).max(100), z.number().min(0).max(100)])
    .refine(([min, max]) => min <= max, 'batteryPct must be [min, max]')
    .default([60, 100]),
});
export type FleetGroup = z.infer<typeof fleetGroupSchema>;

export const outageModeSchema = z.enum(['degraded', 'down', 'intermittent']);
export type OutageMode = z.infer<typeof outageModeSchema>;

export const outageSchema = z
  .object({
    carrierId: carrierIdSchema,
    /** Absent: the carrier is affected in every region. */
    region: regionSchema.optional(),
    fromS: z.number().nonnegative(),
    toS: z.number().positive(),
    mode: outageModeSchema,
    /**
     * `intermittent` only: no service, except `upS` field seconds at the start of every
     * `periodS` (counted from fromS), when the carrier works normally: meters scrape through.
     */
    periodS: z.number().positive().optional(),
    upS: z.number().positive().optional(),
  })
  .refine((o) => o.toS > o.fromS, 'outage toS must be after fromS')
  .refine(
    (o) =>
      o.mode !== 'intermittent' ||
      (o.periodS !== undefined && o.upS !== undefined && o.upS < o.periodS),
    'an intermittent outage needs periodS and upS, upS below periodS',
  );
export type Outage = z.infer<typeof outageSchema>;

/**
 * An attack staged through meters at a field time: the first `count` meters (fleet order) in
 * `region` whose enabled profile is on `carrierId` (each optional) inject it (see Meter.inject).
 */
export const injectionSchema = z.object({
  atS: z.number().nonnegative(),
  kind: z.enum(['forgedResult', 'replayedResult']),
  region: regionSchema.optional(),
  carrierId: carrierIdSchema.optional(),
  count: z.number().int().positive().default(1),
});
export type Injection = z.infer<typeof injectionSchema>;

export const scenarioSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/),
    seed: z.number().int().nonnegative(),
    speedup: z.number().positive().max(100_000),
    durationS: fieldSeconds,
    catalogue: carrierCatalogueSchema,
    fleet: z.array(fleetGroupSchema).min(1),
    outages: z.array(outageSchema).default([]),
    injections: z.array(injectionSchema).default([]),
    /** Time a meter takes to attach after a profile switch, drawn per switch. */
    attachS: fieldRange.default([30, 300]),
    /** Time a profile download takes. */
    downloadS: fieldRange.default([10, 60]),
    /** How long a battery meter stays awake after its poll (never less than 2 real seconds). */
    awakeS: fieldSeconds.default(60),
    /** Always-on meters re-send unacknowledged results with telemetry once they are this old. */
    retransmitS: fieldSeconds.default(900),
    /** Refuse to run a fleet that needs more MQTT connections than this (one per meter). */
    maxConnections: z.number().int().positive().default(2_000),
  })
  .superRefine((s, ctx) => {
    const known = new Set(s.catalogue.carriers.map((c) => c.carrierId));
    const checkCarrier = (carrierId: string, path: (string | number)[]): void => {
      if (!known.has(carrierId))
        ctx.addIssue({
          code: 'custom',
          path,
          message: `carrier ${carrierId} is not in the catalogue`,
        });
    };
    s.fleet.forEach((g, i) => {
      checkCarrier(g.carrierId, ['fleet', i, 'carrierId']);
      g.otherProfiles.forEach((c, j) => checkCarrier(c, ['fleet', i, 'otherProfiles', j]));
      const carriers = [g.carrierId, ...g.otherProfiles];
      if (new Set(carriers).size !== carriers.length) {
        ctx.addIssue({
          code: 'custom',
          path: ['fleet', i, 'otherProfiles'],
          message: 'one profile per carrier',
        });
      }
      if (g.fallbackCarrierId !== undefined && !carriers.includes(g.fallbackCarrierId)) {
        ctx.addIssue({
          code: 'custom',
          path: ['fleet', i, 'fallbackCarrierId'],
          message: 'fallbackCarrierId must be carrierId or one of otherProfiles',
        });
      }
    });
    s.outages.forEach((o, i) => checkCarrier(o.carrierId, ['outages', i, 'carrierId']));
    s.injections.forEach((o, i) => {
      if (o.carrierId !== undefined) checkCarrier(o.carrierId, ['injections', i, 'carrierId']);
    });
    if (s.catalogue.carriers.length > 90) {
      ctx.addIssue({
        code: 'custom',
        path: ['catalogue', 'carriers'],
        message: 'at most 90 carriers (ICCID issuer codes)',
      });
    }
  });
export type Scenario = z.infer<typeof scenarioSchema>;
export type ScenarioInput = z.input<typeof scenarioSchema>;

export class ScenarioError extends Error {
  constructor(
    readonly source: string,
    readonly problems: readonly string[],
  ) {
    super(`invalid scenario ${source}:\n  ${problems.join('\n  ')}`);
    this.name = 'ScenarioError';
  }
}

export function parseScenario(input: unknown, source = 'scenario'): Scenario {
  const parsed = scenarioSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  throw new ScenarioError(
    source,
    parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`),
  );
}

export async function loadScenario(path: string): Promise<Scenario> {
  const text = await readFile(path, 'utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ScenarioError(path, [
      `not JSON: ${error instanceof Error ? error.message : String(error)}`,
    ]);
  }
  return parseScenario(json, path);
}

/** Field seconds to the real seconds the platform sees: divided by speedup, rounded, at least 1. */
export function toRealSeconds(fieldS: number, speedup: number): number {
  return Math.max(1, Math.round(fieldS / speedup));
}

/** Field seconds to real milliseconds, unrounded (for attach and download times). */
export function toRealMs(fieldS: number, speedup: number): number {
  return (fieldS / speedup) * 1000;
}
