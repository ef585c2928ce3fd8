-- Fleet registry: carriers, regions, meters and their eUICC profile inventory.
CREATE TABLE carriers (
  carrier_id   text PRIMARY KEY,
  name         text NOT NULL,
  plmns        text[] NOT NULL,
  smdp_address text NOT NULL,
  tariff       jsonb NOT NULL,
  updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE regions (
  region     text PRIMARY KEY,
  carriers   text[] NOT NULL,  -- under contract, in order of preference
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE meters (
  meter_id           text PRIMARY KEY,
  eid                text NOT NULL UNIQUE,
  kind               text NOT NULL CHECK (kind IN ('electricity', 'gas', 'water')),
  region             text NOT NULL,
  customer_id        text NOT NULL,
  tariff_id          text NOT NULL,
  report_interval_s  integer NOT NULL CHECK (report_interval_s > 0),
  signed_telemetry   boolean NOT NULL,
  rollback_window_s  integer NOT NULL CHECK (rollback_window_s > 0),
  fallback_delay_s   integer NOT NULL CHECK (fallback_delay_s > 0),
  device_public_jwk  jsonb NOT NULL,
  status             text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'decommissioned')),
  -- Monotonic per meter; carried on fleet.meters.v1 so caches ignore stale views.
  revision           bigint NOT NULL DEFAULT 1,
  -- The broker holds the only password verifier; we keep whether it was provisioned.
  broker_provisioned boolean NOT NULL DEFAULT false,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX meters_region_idx ON meters (region);

CREATE TABLE profiles (
  iccid      text PRIMARY KEY,
  meter_id   text NOT NULL REFERENCES meters (meter_id),
  carrier_id text NOT NULL,
  state      text NOT NULL CHECK (state IN ('enabled', 'disabled')),
  fallback   boolean NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX profiles_meter_idx ON profiles (meter_id);
CREATE INDEX profiles_carrier_idx ON profiles (carrier_id);

CREATE TABLE imports (
  import_id   uuid PRIMARY KEY,
  kind        text NOT NULL CHECK (kind IN ('manifest', 'catalogue')),
  started_at  timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  lines       integer NOT NULL DEFAULT 0,
  imported    integer NOT NULL DEFAULT 0,
  unchanged   integer NOT NULL DEFAULT 0,
  rejected    integer NOT NULL DEFAULT 0,
  errors      jsonb NOT NULL DEFAULT '[]'
);

-- Append-only record of every change an operator or import made.
CREATE TABLE audit_log (
  audit_id   bigserial PRIMARY KEY,
  at         timestamptz NOT NULL DEFAULT now(),
  actor      text NOT NULL,
  action     text NOT NULL,
  subject    text NOT NULL,
  detail     jsonb NOT NULL DEFAULT '{}'
);
CREATE RULE audit_log_no_update AS ON UPDATE TO audit_log DO INSTEAD NOTHING;
CREATE RULE audit_log_no_delete AS ON DELETE TO audit_log DO INSTEAD NOTHING;
