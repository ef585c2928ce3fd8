-- Battery charge of battery meters from their latest telemetry, for the swap policy (no download
-- on a low battery). Only battery meters report it, every 6 to 24 h: a few rows a second at most.
CREATE TABLE meter_battery (
  meter_id    text PRIMARY KEY,
  battery_pct double precision NOT NULL,
  at          timestamptz NOT NULL
);
