-- The eIM's durable state: counters per eUICC, profile inventory, swap sagas, outbox, audit.
CREATE TABLE eim_counters (
  eid           text PRIMARY KEY,
  counter_value bigint NOT NULL
);

-- What the eIM believes is on each eUICC, kept current from results and notifications.
CREATE TABLE inventory (
  meter_id      text PRIMARY KEY,
  eid           text NOT NULL,
  enabled_iccid text NOT NULL,
  profiles      jsonb NOT NULL,  -- [{iccid, carrierId, state}]
  updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE swaps (
  swap_id            uuid PRIMARY KEY,
  meter_id           text NOT NULL,
  eid                text NOT NULL,
  trigger            text NOT NULL CHECK (trigger IN ('coverage', 'carrier-outage', 'operator', 'device-fallback')),
  -- Public states plus `confirming` (result ok, waiting to see traffic on the new profile).
  state              text NOT NULL CHECK (state IN ('requested', 'dispatched', 'confirming', 'completed', 'rolled-back', 'failed', 'expired', 'cancelled')),
  from_iccid         text NOT NULL,
  to_iccid           text NOT NULL,
  from_carrier_id    text NOT NULL,
  to_carrier_id      text NOT NULL,
  eim_transaction_id text UNIQUE,
  counter_value      bigint,
  package_jws        text,
  reason_code        text,
  traffic_seen_at    timestamptz,
  deadline           timestamptz,
  -- The coverage event that caused it: a redelivered event finds the swap it already started.
  cause_event_id     text UNIQUE,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now()
);
-- At most one active swap per meter.
CREATE UNIQUE INDEX swaps_one_active_per_meter ON swaps (meter_id) WHERE state IN ('requested', 'dispatched', 'confirming');
CREATE INDEX swaps_deadline_idx ON swaps (deadline) WHERE state IN ('requested', 'dispatched', 'confirming');
CREATE INDEX swaps_meter_idx ON swaps (meter_id, created_at);

-- Records to publish, written in the same transaction as the state they describe, published in
-- id order: swap states reach profile.swaps.v1 in order, and none is lost in a crash.
CREATE TABLE outbox (
  id         bigserial PRIMARY KEY,
  topic      text NOT NULL,
  key        text NOT NULL,
  value      jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE audit_log (
  audit_id   bigserial PRIMARY KEY,
  at         timestamptz NOT NULL DEFAULT now(),
  actor      text NOT NULL,
  action     text NOT NULL,
  meter_id   text,
  eid        text,
  swap_id    uuid,
  detail     jsonb NOT NULL DEFAULT '{}'
);
CREATE RULE audit_log_no_update AS ON UPDATE TO audit_log DO INSTEAD NOTHING;
CREATE RULE audit_log_no_delete AS ON DELETE TO audit_log DO INSTEAD NOTHING;
