import {
  buildEnableTimeline,
  downloadsFromSwaps,
  profileChangesFromSwaps,
  rateConnectivity,
  rateConsumption,
  type ChargeLine,
  type ProfileChange,
  type RatingIssue,
  utcMonth,
} from '@meterlink/billing-domain';
import type { CarrierTariff } from '@meterlink/contracts';
import type { ConsumptionTariffs } from './consumption-tariffs';
import type { MeterMonthInputs } from './rating-inputs.repository';

export type RatingOutcome =
  | {
      ok: true;
      lines: ChargeLine[];
      issues: RatingIssue[];
      /**
       * Why consumption could not be rated (its tariff is unknown): `lines` are the connectivity
       * lines only, the month's stored consumption lines stand, and the month stays dirty,
       * blocked for this reason.
       */
      consumptionBlocked?: string;
    }
  /** Not rated yet: the fleet record or a carrier tariff it needs has not arrived. */
  | { ok: false; blocked: string };

/**
 * One meter's month, rated by @meterlink/billing-domain from what the ledger holds: connectivity
 * over the UTC month (profile timeline from first sighting and swaps, usage, completed swaps and
 * downloads), consumption over the tariff's local month. Connectivity does not depend on the
 * consumption tariff: a meter whose tariff is unknown still owes its carrier the month.
 */
export function rateMeterMonth(
  input: MeterMonthInputs,
  consumptionTariffs: ConsumptionTariffs,
  carrierTariffs: ReadonlyMap<string, CarrierTariff>,
): RatingOutcome {
  const meter = input.meter;
  if (!meter) return { ok: false, blocked: 'unknown_meter' };
  const fromSwaps = profileChangesFromSwaps(input.swaps);
  const changes: ProfileChange[] = [
    ...(input.firstSeen ? [{ ...input.firstSeen, source: 'first-seen' as const }] : []),
    ...fromSwaps.changes,
  ];
  const connectivity = rateConnectivity({
    meterId: input.meterId,
    customerId: meter.customerId,
    period: input.period,
    // A decommissioned meter's subscription stops at its decommissioning.
    timeline: buildEnableTimeline(changes, meter.decommissionedAt),
    // Summed per carrier in the ledger: per MB of a carrier's bytes, the sum is what is charged.
    usage: input.usage.map((u) => ({
      at: utcMonth(input.period).startMs,
      carrierId: u.carrierId,
      bytes: u.bytes,
    })),
    // One download per profile installed on the eUICC, not per swap to it.
    operations: [...fromSwaps.operations, ...downloadsFromSwaps(input.swaps, meter.factoryIccids)],
    tariffs: carrierTariffs,
  });
  const missingCarrier = connectivity.issues.find((i) => i.code === 'unknown_carrier_tariff');
  if (missingCarrier)
    return { ok: false, blocked: `unknown_carrier_tariff:${missingCarrier.carrierId ?? '?'}` };
  const tariff = consumptionTariffs.get(meter.tariffId);
  if (!tariff)
    return {
      ok: true,
      lines: connectivity.lines,
      issues: connectivity.issues,
      consumptionBlocked: `unknown_tariff:${meter.tariffId}`,
    };
  const consumption = rateConsumption({
    meterId: input.meterId,
    customerId: meter.customerId,
    period: input.period,
    tariff,
    readings: input.readings,
    reportIntervalS: meter.reportIntervalS,
  });
  return {
    ok: true,
    lines: [...connectivity.lines, ...consumption.lines],
    issues: [...connectivity.issues, ...consumption.issues],
  };
}
