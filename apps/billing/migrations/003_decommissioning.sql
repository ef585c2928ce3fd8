-- When a meter stopped accruing connectivity: the `at` of the fleet.meters.v1 record that first
-- said `decommissioned` (the registry publishes it when it decommissions the meter). NULL while
-- active, and for a meter decommissioned before this column existed (its time is unknown: the
-- month sweep leaves such a meter alone).
ALTER TABLE meters ADD COLUMN decommissioned_at timestamptz;
