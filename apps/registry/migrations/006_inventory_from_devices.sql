-- The eUICC inventory follows the devices too (boot reports, eUICC notifications), not only
-- completed swaps. Facts arrive on different topics and late: the platform time of the newest
-- fact applied lets an older one be ignored, and the highest notification seqNumber applied lets
-- the retransmissions every meter sends until acknowledged be ignored.
ALTER TABLE meters ADD COLUMN inventory_at timestamptz;
ALTER TABLE meters ADD COLUMN notification_seq bigint;
