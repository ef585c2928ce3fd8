-- Rating: what the fleet topics say about meters and carriers, swap states (rollbacks), the
-- periods a batch touched (dirty), the rated charge lines with their audit trail, closed months
-- and the outbox to billing.charges.v1.

-- fleet.meters.v1: the customer and the consumption tariff of each meter (latest revision wins).
CREATE TABLE meters (
  meter_id    text PRIMARY KEY,
  customer_id text NOT NULL,
  tariff_id   text NOT NULL,
  kind        text NOT NULL,
  region      text NOT NULL,
  status      text NOT NULL,
  report_interval_s integer NOT NULL,
  revision    bigint NOT NULL,
  -- The profiles of the first revision seen (the factory's): a swap to any other ICCID needed a
  -- download.
  factory_iccids text[] NOT NULL
);

-- fleet.carriers.v1: connectivity tariffs (latest record wins; rated lines keep the amounts they
-- were rated with).
CREATE TABLE carriers (
  carrier_id         text PRIMARY KEY,
  currency           text NOT NULL,
  monthly_fee_minor  bigint NOT NULL,
  per_mb_minor       bigint NOT NULL,
  download_fee_minor bigint NOT NULL,
  swap_fee_minor     bigint NOT NULL
);

-- Every state of every swap (profile_timeline keeps only what changed the enabled profile).
CREATE TABLE swap_states (
  swap_id         uuid NOT NULL,
  state           text NOT NULL,
  meter_id        text NOT NULL,
  at              timestamptz NOT NULL,
  trigger         text NOT NULL,
  from_iccid      text NOT NULL,
  to_iccid        text NOT NULL,
  from_carrier_id text NOT NULL,
  to_carrier_id   text NOT NULL,
  PRIMARY KEY (swap_id, state)
);
CREATE INDEX swap_states_meter_idx ON swap_states (meter_id, at);

CREATE INDEX usage_meter_at_idx ON usage (meter_id, at);

-- (meter, month) pairs whose inputs changed since they were last rated, with what changed (the
-- "why" of the audit trail). Rows are counted up by ingestion and deleted by the rating that
-- consumed them, in one transaction each.
CREATE TABLE dirty_periods (
  meter_id       text NOT NULL,
  -- YYYY-MM: connectivity in the UTC month, consumption in the tariff's local month of that name
  period         text NOT NULL,
  readings       integer NOT NULL DEFAULT 0,
  late_readings  integer NOT NULL DEFAULT 0, -- sent more than a day after their interval
  usage_records  integer NOT NULL DEFAULT 0,
  swap_changes   integer NOT NULL DEFAULT 0,
  fleet_changes  integer NOT NULL DEFAULT 0,
  -- A reading became the first or last of the next or previous month: this month's interpolated
  -- register value at that boundary may move.
  boundary_changes integer NOT NULL DEFAULT 0,
  first_at       timestamptz NOT NULL DEFAULT now(),
  last_at        timestamptz NOT NULL DEFAULT now(),
  -- Why it could not be rated yet (unknown meter, tariff or carrier); cleared by the fleet record
  -- that resolves it.
  blocked        text,
  PRIMARY KEY (meter_id, period)
);
CREATE INDEX dirty_periods_ready_idx ON dirty_periods (last_at) WHERE blocked IS NULL;

-- Each (meter, month) rated at least once: later inputs for it are re-ratings, and a reading on
-- the other side of its boundary can change its interpolated register value.
CREATE TABLE rated_periods (
  meter_id  text NOT NULL,
  period    text NOT NULL,
  ratings   integer NOT NULL,
  rated_at  timestamptz NOT NULL,
  PRIMARY KEY (meter_id, period)
);

-- Charge lines. An original line (correction_of NULL) is restated in place while its month is
-- open (revision + 1, each change in charge_audit); once the month is closed a change becomes a
-- correction line billed in the next open month.
CREATE TABLE charges (
  charge_id      text PRIMARY KEY,
  -- The rated line's own id (meterId/period/type/...); a correction's line_key is the id of the
  -- line it corrects, and its charge_id is new.
  line_key       text NOT NULL,
  period         text NOT NULL,        -- the month it is billed in
  service_period text NOT NULL,        -- the month the service happened in
  type           text NOT NULL,
  meter_id       text NOT NULL,
  carrier_id     text,
  customer_id    text,
  register       text,
  band           text,
  tariff_id      text,
  quantity       numeric NOT NULL,
  quantity_exact text NOT NULL,         -- n or n/d, as rated
  unit           text NOT NULL,
  amount_minor   bigint NOT NULL,
  amount_exact_minor text NOT NULL,     -- the unrounded amount, n or n/d
  currency       text NOT NULL,
  estimated      boolean NOT NULL DEFAULT false,
  flags          text[] NOT NULL DEFAULT '{}',
  correction_of  text REFERENCES charges (charge_id),
  revision       integer NOT NULL,
  rated_at       timestamptz NOT NULL
);
CREATE INDEX charges_meter_idx ON charges (meter_id, service_period);
CREATE INDEX charges_carrier_idx ON charges (carrier_id, period) WHERE carrier_id IS NOT NULL;
CREATE INDEX charges_customer_idx ON charges (customer_id, period) WHERE customer_id IS NOT NULL;

-- What changed in a rated line, the amounts before and after, and why. Append-only.
CREATE TABLE charge_audit (
  audit_id            bigserial PRIMARY KEY,
  at                  timestamptz NOT NULL DEFAULT now(),
  charge_id           text NOT NULL,
  meter_id            text NOT NULL,
  service_period      text NOT NULL,
  action              text NOT NULL,   -- rated | re-rated | corrected
  old_amount_minor    bigint,
  new_amount_minor    bigint NOT NULL,
  old_quantity        numeric,
  new_quantity        numeric NOT NULL,
  reason              text NOT NULL,
  detail              jsonb NOT NULL
);
CREATE INDEX charge_audit_meter_idx ON charge_audit (meter_id, service_period);
CREATE RULE charge_audit_no_update AS ON UPDATE TO charge_audit DO INSTEAD NOTHING;
CREATE RULE charge_audit_no_delete AS ON DELETE TO charge_audit DO INSTEAD NOTHING;

CREATE TABLE closed_months (
  period    text PRIMARY KEY,
  closed_at timestamptz NOT NULL DEFAULT now(),
  closed_by text NOT NULL
);

CREATE TABLE outbox (
  id    bigserial PRIMARY KEY,
  topic text NOT NULL,
  key   text NOT NULL,
  value jsonb NOT NULL
);
