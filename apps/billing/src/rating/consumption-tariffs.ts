import { readFileSync } from 'node:fs';
import { parseTariffFile, type CompiledTariff } from '@meterlink/billing-domain';
import type { BillingConfig } from '../config';

export type ConsumptionTariffs = ReadonlyMap<string, CompiledTariff>;

/** The consumption tariffs, read and compiled once at boot: a bad file stops the service. */
export function loadConsumptionTariffs(config: BillingConfig): ConsumptionTariffs {
  const file = config.BILLING_TARIFFS_FILE;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(
      `BILLING_TARIFFS_FILE ${file}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  return parseTariffFile(json);
}
