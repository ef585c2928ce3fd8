import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SPEC_SAMPLE_CARRIERS, type CarrierTariff } from '@meterlink/contracts';
import type { RegisterReading } from '../consumption';
import { parseTariffFile, type CompiledTariff } from '../tariff';

/** The sample tariff file the billing service ships with (config/tariffs.json). For specs only. */
export function sampleTariffs(): ReadonlyMap<string, CompiledTariff> {
  const file = join(__dirname, '..', '..', '..', '..', '..', 'config', 'tariffs.json');
  return parseTariffFile(JSON.parse(readFileSync(file, 'utf8')) as unknown);
}

export function sampleTariff(tariffId: string): CompiledTariff {
  const tariff = sampleTariffs().get(tariffId);
  if (!tariff) throw new Error(`config/tariffs.json has no ${tariffId}`);
  return tariff;
}

/**
 * Readings every `stepMinutes` from `fromIso`, `count + 1` of them, the register rising by
 * `increment(i, at)` over the step ending at reading i. For specs only.
 */
export function readingSeries(
  fromIso: string,
  stepMinutes: number,
  count: number,
  increment: (i: number, at: number) => number,
  startValue = 0,
): RegisterReading[] {
  const from = Date.parse(fromIso);
  const out: RegisterReading[] = [{ at: from, value: startValue }];
  let value = startValue;
  for (let i = 1; i <= count; i++) {
    const at = from + i * stepMinutes * 60_000;
    value += increment(i, at);
    out.push({ at, value });
  }
  return out;
}

/** provisioning.md's carrier catalogue (tariffs only). For specs only. */
export const SAMPLE_CARRIER_TARIFFS: ReadonlyMap<string, CarrierTariff> = new Map(
  SPEC_SAMPLE_CARRIERS.map((c) => [c.carrierId, c.tariff]),
);
