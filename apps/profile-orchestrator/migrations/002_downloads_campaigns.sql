-- Issue 6: downloads through the carrier's SM-DP+, sleepy meters, campaigns, carrier outages.

-- A swap's internal step (the public `state` keeps the values of platform-topics.md):
--   ordering     ES2+ downloadOrder / confirmOrder at the target carrier's SM-DP+ (retried from next_attempt_at)
--   downloading  profileDownloadTrigger queued for the meter, waiting for its profileDownloadResult
--   enabling     the signed enable package is out (state dispatched)
--   confirming   result ok, waiting for traffic on the new profile (state confirming)
ALTER TABLE swaps
  ADD COLUMN phase                  text NOT NULL DEFAULT 'enabling',
  ADD COLUMN needs_download         boolean NOT NULL DEFAULT false,
  ADD COLUMN matching_id            text,
  ADD COLUMN activation_code        text,
  ADD COLUMN download_transaction_id text UNIQUE,
  -- ES2+ calls: when to try next, how often tried; a crash resumes from here, never from a timer.
  ADD COLUMN next_attempt_at        timestamptz,
  ADD COLUMN attempts               integer NOT NULL DEFAULT 0,
  -- Set by an emergency stop or a fallback on a swap whose order exists: cancelOrder is owed.
  ADD COLUMN cancel_order_pending   boolean NOT NULL DEFAULT false,
  ADD COLUMN campaign_id            uuid,
  ADD COLUMN requested_by           text,
  ADD COLUMN published_requested    boolean NOT NULL DEFAULT true;
-- NULL while ordering: the SM-DP+ allocates the target ICCID.
ALTER TABLE swaps ALTER COLUMN to_iccid DROP NOT NULL;
CREATE INDEX swaps_next_attempt_idx ON swaps (next_attempt_at)
  WHERE next_attempt_at IS NOT NULL;
CREATE INDEX swaps_campaign_idx ON swaps (campaign_id) WHERE campaign_id IS NOT NULL;

ALTER TABLE audit_log ADD COLUMN campaign_id uuid;
CREATE INDEX audit_log_meter_idx ON audit_log (meter_id, audit_id);
CREATE INDEX audit_log_campaign_idx ON audit_log (campaign_id, audit_id);

-- When each meter was last heard on ESipa and when it is next expected (sleepy meters).
CREATE TABLE meter_presence (
  meter_id         text PRIMARY KEY,
  last_seen_at     timestamptz NOT NULL,
  next_expected_at timestamptz NOT NULL
);

-- Carrier outages per region, from coverage.events.v1: carriers in outage are never targets.
CREATE TABLE carrier_outages (
  outage_id      text PRIMARY KEY,
  carrier_id     text NOT NULL,
  region         text NOT NULL,
  started_at     timestamptz NOT NULL,
  recovered_at   timestamptz,
  -- An automatic campaign starts only once the outage has lasted OUTAGE_MIN_DURATION_S.
  campaign_due_at timestamptz NOT NULL,
  campaign_id    uuid,
  -- Why no campaign was made (e.g. no target carrier), once decided.
  campaign_outcome text
);
CREATE INDEX carrier_outages_open_idx ON carrier_outages (region, carrier_id) WHERE recovered_at IS NULL;

CREATE TABLE campaigns (
  campaign_id        uuid PRIMARY KEY,
  name               text NOT NULL,
  reason             text,
  trigger            text NOT NULL CHECK (trigger IN ('operator', 'carrier-outage')),
  state              text NOT NULL CHECK (state IN ('pending-approval', 'running', 'paused', 'completed', 'stopped')),
  paused_reason      text,
  selector           jsonb NOT NULL,
  target_carrier_id  text NOT NULL,
  canary_size        integer NOT NULL,
  growth_factor      double precision NOT NULL,
  max_wave_size      integer NOT NULL,
  success_rate_gate  double precision NOT NULL,
  error_threshold    double precision NOT NULL,
  meter_count        integer NOT NULL,
  -- Waves already planned; the next wave starts once this one has no swap in flight.
  current_wave       integer NOT NULL DEFAULT -1,
  -- An operator resumed after this wave's gate paused the campaign: its gate is not applied again.
  gate_override_wave integer,
  created_by         text NOT NULL,
  approved_by        text,
  outage_id          text,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX campaigns_active_idx ON campaigns (state) WHERE state = 'running';

-- One row per meter of a campaign; swap_id once its swap exists (in the same transaction as the swap).
CREATE TABLE campaign_meters (
  campaign_id uuid NOT NULL REFERENCES campaigns (campaign_id),
  meter_id    text NOT NULL,
  position    integer NOT NULL,
  wave_index  integer,
  swap_id     uuid,
  -- pending → started (swap_id set) | skipped (already on target, active swap, no profile...) | cancelled (stop)
  status      text NOT NULL DEFAULT 'pending',
  skip_reason text,
  PRIMARY KEY (campaign_id, meter_id)
);
CREATE INDEX campaign_meters_position_idx ON campaign_meters (campaign_id, position);
CREATE INDEX campaign_meters_swap_idx ON campaign_meters (swap_id) WHERE swap_id IS NOT NULL;

-- ES2+ orders per carrier, for the per-carrier rate limit (SM-DP+ capacity per minute).
CREATE TABLE smdp_orders (
  carrier_id text NOT NULL,
  at         timestamptz NOT NULL DEFAULT now(),
  swap_id    uuid NOT NULL
);
CREATE INDEX smdp_orders_idx ON smdp_orders (carrier_id, at);
