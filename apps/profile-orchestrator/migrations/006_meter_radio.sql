-- One row per meter with what the swap policy needs of its radio: where its latest telemetry was
-- (region, carrier, cell, RSRP), its battery charge, and its coverage state from coverage.events.v1.
-- The policy compares a degraded meter with its carrier's other meters in the same cell
-- (meter_fault) and ranks candidate carriers by their meters there (swap-policy README).
ALTER TABLE meter_battery RENAME TO meter_radio;
ALTER INDEX meter_battery_pkey RENAME TO meter_radio_pkey;
ALTER TABLE meter_radio RENAME COLUMN at TO telemetry_at;
ALTER TABLE meter_radio ALTER COLUMN battery_pct DROP NOT NULL;
ALTER TABLE meter_radio ALTER COLUMN telemetry_at DROP NOT NULL;
ALTER TABLE meter_radio
  -- The fleet view's region when the telemetry was stored; null until the meter is known there.
  ADD COLUMN region         text,
  -- Of the latest stored telemetry (null: the ICCID was not on the meter's inventory).
  ADD COLUMN carrier_id     text,
  ADD COLUMN cell_id        text,
  ADD COLUMN rsrp_dbm       double precision,
  -- From meter.degraded / meter.lost / meter.restored; a meter never reported on is healthy.
  ADD COLUMN coverage_state text NOT NULL DEFAULT 'healthy'
    CHECK (coverage_state IN ('healthy', 'degraded', 'lost')),
  ADD COLUMN state_at       timestamptz;

-- Rewrites of a row that change only unindexed columns (RSRP, state, times) stay on its page as
-- HOT updates when the page has room: no index write at the fleet's telemetry rate.
ALTER TABLE meter_radio SET (fillfactor = 80);

-- A meter's cell peers, at decision time. Only (region, cell_id): indexing the columns that move
-- (RSRP, times) would make every rewrite a non-HOT update.
CREATE INDEX meter_radio_cell ON meter_radio (region, cell_id) WHERE cell_id IS NOT NULL;
