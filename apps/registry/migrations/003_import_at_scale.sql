-- BROKER_CREDENTIALS=password-file: the meter's password verifier in the format of Mosquitto's
-- password_file ($7$, PBKDF2-SHA512), the only form in which the platform keeps a meter password
-- (provisioning.md). The broker's password file is written from this column, for the active
-- meters whose fleet record is out (broker_provisioned). NULL in dynsec mode, where the broker
-- alone keeps it, and once a meter is decommissioned.
ALTER TABLE meters ADD COLUMN broker_verifier text;

-- An import marks each meter provisioned right after inserting it. Room on each page lets that
-- update stay on the page without touching any index (a HOT update), which is why no index may
-- name broker_provisioned.
ALTER TABLE meters SET (fillfactor = 85);
