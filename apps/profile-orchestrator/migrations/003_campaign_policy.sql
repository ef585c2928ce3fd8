-- @meterlink/campaign-policy: a resume accepts the verdicts of the waves up to the one that paused.
ALTER TABLE campaigns
  ADD COLUMN paused_wave_index integer,
  ADD COLUMN acknowledged_through_wave integer;
UPDATE campaigns SET acknowledged_through_wave = gate_override_wave WHERE gate_override_wave IS NOT NULL;
ALTER TABLE campaigns DROP COLUMN gate_override_wave;

-- The SM-DP+ capacity per carrier as a token bucket (takeTokens), one row per carrier.
CREATE TABLE smdp_buckets (
  carrier_id text PRIMARY KEY,
  tokens     double precision NOT NULL,
  updated_at bigint NOT NULL
);
