import type { CarrierCatalogue } from '@meterlink/contracts';

/**
 * The benchmark fleet as a meter-simulator scenario (validated by the simulator when it loads
 * it): every meter in one region on carrier A, most with a carrier-B profile already on the
 * eUICC, the rest needing a download. Carriers and region carry the run tag, so that repeated runs
 * on one stack never share a carrier × region group.
 */
export interface BenchFleetPlan {
  tag: string;
  meters: number;
  downloadShare: number;
  attachS: [number, number];
}

export interface BenchFleet {
  scenario: Record<string, unknown>;
  region: string;
  fromCarrierId: string;
  toCarrierId: string;
  withProfile: number;
  needingDownload: number;
}

const tariff = (monthlyFeeMinor: number) => ({
  currency: 'EUR',
  monthlyFeeMinor,
  perMbMinor: 20,
  downloadFeeMinor: 100,
  swapFeeMinor: 0,
});

export function benchFleet(plan: BenchFleetPlan): BenchFleet {
  const fromCarrierId = `bench-a-${plan.tag}`;
  const toCarrierId = `bench-b-${plan.tag}`;
  const region = `bench-${plan.tag}`;
  const needingDownload = Math.round(plan.meters * plan.downloadShare);
  const withProfile = plan.meters - needingDownload;
  const catalogue: CarrierCatalogue = {
    carriers: [
      {
        carrierId: fromCarrierId,
        name: 'Bench A',
        plmns: ['23415'],
        smdpAddress: `smdp.${fromCarrierId}.example`,
        tariff: tariff(60),
      },
      {
        carrierId: toCarrierId,
        name: 'Bench B',
        plmns: ['23420'],
        smdpAddress: `smdp.${toCarrierId}.example`,
        tariff: tariff(50),
      },
    ],
    regions: [{ region, carriers: [fromCarrierId, toCarrierId] }],
  };
  // Meters answer fast: reports every 10 min (the campaign, not telemetry, is the load), a
  // rollback window far above the attach time, no fallback during the run.
  const group = (count: number, otherProfiles: string[]) => ({
    region,
    kind: 'electricity',
    carrierId: fromCarrierId,
    count,
    reportIntervalS: 600,
    otherProfiles,
    rollbackWindowS: 300,
    fallbackDelayS: 86_400,
  });
  const fleet = [
    ...(withProfile > 0 ? [group(withProfile, [toCarrierId])] : []),
    ...(needingDownload > 0 ? [group(needingDownload, [])] : []),
  ];
  return {
    scenario: {
      name: `bench-campaign-${plan.tag}`,
      seed: Number.parseInt(plan.tag, 16) || 1,
      speedup: 1,
      durationS: 86_400,
      catalogue,
      fleet,
      outages: [],
      attachS: plan.attachS,
      downloadS: [0.5, 1.5],
      awakeS: 60,
      retransmitS: 30,
      maxConnections: plan.meters,
    },
    region,
    fromCarrierId,
    toCarrierId,
    withProfile,
    needingDownload,
  };
}
