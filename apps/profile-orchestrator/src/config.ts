import { z } from 'zod';
import { baseConfigShape, env, loadConfig } from '@meterlink/config';
import { DEFAULT_SMDP_URL_TEMPLATE } from '@meterlink/contracts';
import { smdpCapacityByCarrierSchema } from './smdp/smdp-capacity';

export const orchestratorConfigSchema = z.object({
  ...baseConfigShape,
  HTTP_PORT: env.port(3004),
  DATABASE_URL: env.postgresUrl(),
  /**
   * The orchestrator schema's owner, for migrations only; the service then runs as DATABASE_URL's
   * role, which may only append to the audit log and cannot drop its triggers. Unset: migrations
   * run as the service role (which then owns the log; a warning says so at start).
   */
  DATABASE_OWNER_URL: env.postgresUrl().optional(),
  /** The eIM's private signing key (JWK, file mode 600); generated on first start when absent. */
  EIM_KEY_FILE: z.string().min(1),
  /**
   * The next eIM key, published in the JWKS ahead of a rotation; generated on first start when
   * absent. Default: beside EIM_KEY_FILE (`eim-key.json` → `eim-key.next.json`).
   */
  EIM_NEXT_KEY_FILE: z.string().min(1).optional(),
  EIM_ID: z.string().min(1).default('meterlink-eim-1'),
  SWAP_COOLDOWN_S: env.int(6 * 3600),
  SWAP_ANTI_FLAP_WINDOW_S: env.int(7 * 86_400),
  /**
   * The swap policy's meter-fault rule (the meter's own carrier is fine around it) judges by the
   * carrier's other meters in the meter's cell (orchestrator.meter_radio). With this set, a
   * degraded meter with no other meter of its carrier on record in its cell is also not swapped
   * (`meter_fault`) when the region's counts are fine. Off by default: region counts hide a
   * single cell's outage and lag the meter's own degradation (libs/domain/swap-policy/README.md).
   */
  SWAP_METER_FAULT_FROM_REGION_PEERS: env.bool(false),
  /**
   * A meter counts among its cell's peers for the swap policy when its telemetry or coverage
   * state is at most this old. 26 h: the slowest meters report every 24 h (device-interface §2),
   * plus slack for a late report; the coverage monitor's events keep a reporting peer's state
   * current meanwhile. Shorter would leave battery meters out of their cells; longer would count
   * meters that left (moved, decommissioned, lost long ago).
   */
  SWAP_CELL_PEER_WINDOW_S: env.int(26 * 3600, 3600),
  /** Time after dispatch, on top of the meter's rollback window, before a swap expires. */
  SWAP_GRACE_S: env.int(60),
  SWEEP_INTERVAL_MS: env.int(500, 10),
  /** Operator API tokens (`token:role`, comma-separated); without them the operator API refuses every call. */
  ORCHESTRATOR_API_TOKENS: env.apiTokens().optional(),
  /** A carrier's SM-DP+ base URL for ES2+ (`{carrierId}` replaced). */
  SMDP_URL_TEMPLATE: z.string().includes('{carrierId}').default(DEFAULT_SMDP_URL_TEMPLATE),
  SMDP_TIMEOUT_MS: env.int(10_000, 100),
  /** How long ES2+ may keep failing transiently (retried with backoff) before the swap fails. */
  SMDP_ORDER_TIMEOUT_S: env.int(3600, 1),
  /** SM-DP+ capacity of a carrier: download orders per minute, unless it has its own below. */
  SMDP_ORDERS_PER_MIN: env.int(600, 1),
  /** Carriers whose SM-DP+ capacity differs: `carrier-a:300,carrier-b:1200`. */
  SMDP_ORDERS_PER_MIN_BY_CARRIER: smdpCapacityByCarrierSchema,
  /** After the meter's next expected poll, how long it may take to report its download. */
  DOWNLOAD_TIMEOUT_S: env.int(900, 1),
  /**
   * Carrier coverage counts (coverage.carriers.v1, restated every 30 s) older than this are no
   * evidence for the swap policy: a stopped coverage monitor must not leave a stale picture.
   */
  COVERAGE_STATS_MAX_AGE_S: env.int(300, 1),
  /** Campaigns above this many meters wait for an admin's approval. */
  CAMPAIGN_APPROVAL_THRESHOLD: env.int(1000, 0),
  CAMPAIGN_TICK_MS: env.int(500, 10),
  /** Swaps a campaign starts per tick (bounds one transaction). */
  CAMPAIGN_START_BATCH: env.int(200, 1),
  /** A carrier outage must last this long before an automatic campaign starts (a blip moves nothing). */
  OUTAGE_MIN_DURATION_S: env.int(900, 0),
  /** Automatic campaigns' waves. */
  OUTAGE_CAMPAIGN_CANARY: env.int(10, 1),
});
export type OrchestratorConfig = z.infer<typeof orchestratorConfigSchema>;
export const loadOrchestratorConfig = (): OrchestratorConfig =>
  loadConfig(orchestratorConfigSchema);
