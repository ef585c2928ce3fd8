-- Billing inputs, written in the same transaction as the Kafka offsets they came from, so that a
-- replay or a crash mid-batch never counts a record twice.
CREATE TABLE consumed_offsets (
  consumer   text NOT NULL,
  topic      text NOT NULL,
  partition  integer NOT NULL,
  next_offset bigint NOT NULL,
  PRIMARY KEY (consumer, topic, partition)
);

CREATE TABLE readings (
  meter_id    text NOT NULL,
  register    text NOT NULL,
  at          timestamptz NOT NULL,
  value       bigint NOT NULL,
  kind        text NOT NULL,
  seq         bigint NOT NULL,
  received_at timestamptz NOT NULL,
  PRIMARY KEY (meter_id, register, at)
);

-- Which profile (and so which carrier) each meter had enabled from when: the basis of
-- connectivity rating. One row per change.
CREATE TABLE profile_timeline (
  meter_id   text NOT NULL,
  from_at    timestamptz NOT NULL,
  iccid      text NOT NULL,
  carrier_id text NOT NULL,
  source     text NOT NULL,  -- first-seen | swap | device-fallback
  swap_id    uuid,
  PRIMARY KEY (meter_id, from_at)
);
CREATE UNIQUE INDEX profile_timeline_swap_idx ON profile_timeline (swap_id) WHERE swap_id IS NOT NULL;

CREATE TABLE usage (
  meter_id   text NOT NULL,
  seq        bigint NOT NULL,
  at         timestamptz NOT NULL,
  iccid      text NOT NULL,
  carrier_id text,
  bytes_up   bigint NOT NULL,
  bytes_down bigint NOT NULL,
  PRIMARY KEY (meter_id, seq)
);
