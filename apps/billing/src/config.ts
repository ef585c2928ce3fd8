import { z } from 'zod';
import { baseConfigShape, env, loadConfig } from '@meterlink/config';

export const billingConfigSchema = z.object({
  ...baseConfigShape,
  HTTP_PORT: env.port(3005),
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL'),
  /** Statements API tokens (`token:role`); unset, every API call is refused (fails closed). */
  BILLING_API_TOKENS: env.apiTokens().optional(),
  /** Consumption tariffs (JSON, @meterlink/billing-domain's tariff file format). */
  BILLING_TARIFFS_FILE: z.string().min(1).default('config/tariffs.json'),
  /** A dirty month is rated once its inputs were quiet this long... */
  BILLING_RATING_QUIET_MS: env.int(5_000),
  /**
   * ...or once it has waited this long, however busy its meter is. Long enough that a backlog
   * being caught up is rated once, not every few seconds.
   */
  BILLING_RATING_MAX_DELAY_MS: env.int(300_000),
  /** While more readings than this wait in Kafka, months are rated only after the maximum delay. */
  BILLING_RATING_DEFER_BACKLOG: env.int(50_000),
  /** Kafka fetch size per partition: larger batches make fewer, larger ledger transactions. */
  BILLING_FETCH_BYTES_PER_PARTITION: env.int(4_194_304, 65_536),
  /** (meter, month) pairs rated per transaction. */
  BILLING_RATING_BATCH: env.int(50, 1),
  /** Rating transactions in parallel (each takes a different set of months: SKIP LOCKED). */
  BILLING_RATING_WORKERS: env.int(2, 1),
});
export type BillingConfig = z.infer<typeof billingConfigSchema>;
export const loadBillingConfig = (): BillingConfig => loadConfig(billingConfigSchema);
