import { z } from 'zod';
import {
  carrierIdSchema,
  ecPublicJwkSchema,
  eidSchema,
  iccidSchema,
  meterIdSchema,
  meterKindSchema,
  plmnSchema,
  regionSchema,
} from '../primitives';

export const DEFAULT_ROLLBACK_WINDOW_S = 600;
export const DEFAULT_FALLBACK_DELAY_S = 3600;

export const manifestProfileSchema = z.object({
  iccid: iccidSchema,
  carrierId: carrierIdSchema,
  state: z.enum(['enabled', 'disabled']),
  fallback: z.boolean(),
});
export type ManifestProfile = z.infer<typeof manifestProfileSchema>;

/** provisioning.md: one factory manifest line. */
export const manifestLineSchema = z
  .object({
    meterId: meterIdSchema,
    eid: eidSchema,
    kind: meterKindSchema,
    region: regionSchema,
    customerId: z.string().min(1).max(64),
    tariffId: z.string().min(1).max(64),
    reportIntervalS: z.number().int().positive(),
    signedTelemetry: z.boolean(),
    rollbackWindowS: z.number().int().positive().default(DEFAULT_ROLLBACK_WINDOW_S),
    fallbackDelayS: z.number().int().positive().default(DEFAULT_FALLBACK_DELAY_S),
    devicePublicKeyJwk: ecPublicJwkSchema,
    // provisioning.md sets no minimum (its sample is "…"): the factory chooses the password.
    mqttPassword: z.string().min(1).max(256),
    profiles: z.array(manifestProfileSchema).min(1).max(16),
  })
  .superRefine((line, ctx) => {
    const enabled = line.profiles.filter((p) => p.state === 'enabled').length;
    if (enabled !== 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['profiles'],
        message: `exactly one profile must be enabled, found ${enabled}`,
      });
    }
    if (line.profiles.filter((p) => p.fallback).length > 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['profiles'],
        message: 'at most one profile may carry the fallback attribute',
      });
    }
    if (new Set(line.profiles.map((p) => p.iccid)).size !== line.profiles.length) {
      ctx.addIssue({ code: 'custom', path: ['profiles'], message: 'iccids must be unique' });
    }
  });
export type ManifestLine = z.infer<typeof manifestLineSchema>;

export const carrierTariffSchema = z.object({
  currency: z.string().regex(/^[A-Z]{3}$/),
  monthlyFeeMinor: z.number().int().nonnegative(),
  perMbMinor: z.number().int().nonnegative(),
  downloadFeeMinor: z.number().int().nonnegative(),
  swapFeeMinor: z.number().int().nonnegative(),
});
export type CarrierTariff = z.infer<typeof carrierTariffSchema>;

export const carrierSchema = z.object({
  carrierId: carrierIdSchema,
  name: z.string().min(1).max(128),
  plmns: z.array(plmnSchema).min(1),
  smdpAddress: z.string().min(1).max(255),
  tariff: carrierTariffSchema,
});
export type Carrier = z.infer<typeof carrierSchema>;

export const regionContractSchema = z.object({
  region: regionSchema,
  /** Carriers under contract in the region, in order of preference. */
  carriers: z.array(carrierIdSchema).min(1),
});
export type RegionContract = z.infer<typeof regionContractSchema>;

/**
 * provisioning.md: the carrier catalogue. A region may name a carrier under contract that the
 * catalogue does not describe (yet): the spec's own sample does (south: carrier-c). It is kept,
 * and `uncataloguedCarriers` names it so the import can warn; a carrier without an entry has no
 * SM-DP+ address or tariff, so consumers never choose it as a download target.
 */
export const carrierCatalogueSchema = z.object({
  carriers: z.array(carrierSchema).min(1),
  regions: z.array(regionContractSchema),
});
export type CarrierCatalogue = z.infer<typeof carrierCatalogueSchema>;

/** A region's carrier under contract that has no entry in the catalogue's `carriers`. */
export interface UncataloguedCarrier {
  region: string;
  carrierId: string;
  /** Where it is named, e.g. `regions.1.carriers.1`. */
  path: string;
}

export function uncataloguedCarriers(catalogue: CarrierCatalogue): UncataloguedCarrier[] {
  const known = new Set(catalogue.carriers.map((c) => c.carrierId));
  return catalogue.regions.flatMap((r, i) =>
    r.carriers.flatMap((carrierId, j) =>
      known.has(carrierId)
        ? []
        : [{ region: r.region, carrierId, path: `regions.${i}.carriers.${j}` }],
    ),
  );
}
