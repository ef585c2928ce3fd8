-- Meter client certificates issued by the device CA (docs/device-identity.md). The private keys
-- stay on the meters; the registry keeps what revocation needs, so a revocation survives restarts
-- and every CRL is rebuilt from here.
CREATE TABLE device_certificates (
  -- Lowercase hex without leading zeros, as certificates and CRLs print it; random 128 bits.
  serial_number      text PRIMARY KEY CHECK (serial_number ~ '^[0-9a-f]+$'),
  meter_id           text NOT NULL REFERENCES meters (meter_id),
  -- The issuing CA's subjectKeyIdentifier: after a CA rotation each CA's CRL lists its own.
  ca_key_id          text NOT NULL,
  fingerprint_sha256 text NOT NULL UNIQUE,
  not_before         timestamptz NOT NULL,
  not_after          timestamptz NOT NULL,
  issued_at          timestamptz NOT NULL DEFAULT now(),
  issued_by          text NOT NULL,
  revoked_at         timestamptz,
  revocation_reason  text CHECK (revocation_reason IN ('unspecified', 'keyCompromise',
                       'affiliationChanged', 'superseded', 'cessationOfOperation', 'privilegeWithdrawn')),
  CHECK ((revoked_at IS NULL) = (revocation_reason IS NULL))
);
CREATE INDEX device_certificates_meter_idx ON device_certificates (meter_id);
-- What a CRL lists: revoked and not yet expired (an expired certificate is refused anyway).
CREATE INDEX device_certificates_crl_idx ON device_certificates (ca_key_id, not_after)
  WHERE revoked_at IS NOT NULL;

-- RFC 5280: each CRL a CA issues carries a larger number than the one before.
CREATE SEQUENCE crl_number;
