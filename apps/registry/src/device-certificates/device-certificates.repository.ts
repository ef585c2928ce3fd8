import { Inject, Injectable } from '@nestjs/common';
import type { RevocationReason, RevokedEntry } from '@meterlink/device-pki';
import type { Pool } from '@meterlink/postgres';
import { PG_POOL } from '../tokens';

export interface DeviceCertificateRow {
  serialNumber: string;
  meterId: string;
  caKeyId: string;
  fingerprintSha256: string;
  notBefore: Date;
  notAfter: Date;
  issuedAt: Date;
  issuedBy: string;
  revokedAt: Date | null;
  revocationReason: RevocationReason | null;
}

interface Row {
  serial_number: string;
  meter_id: string;
  ca_key_id: string;
  fingerprint_sha256: string;
  not_before: Date;
  not_after: Date;
  issued_at: Date;
  issued_by: string;
  revoked_at: Date | null;
  revocation_reason: RevocationReason | null;
}

const toCertificate = (r: Row): DeviceCertificateRow => ({
  serialNumber: r.serial_number,
  meterId: r.meter_id,
  caKeyId: r.ca_key_id,
  fingerprintSha256: r.fingerprint_sha256,
  notBefore: r.not_before,
  notAfter: r.not_after,
  issuedAt: r.issued_at,
  issuedBy: r.issued_by,
  revokedAt: r.revoked_at,
  revocationReason: r.revocation_reason,
});

export const UNIQUE_VIOLATION = '23505';

@Injectable()
export class DeviceCertificatesRepository {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  async insert(
    cert: Omit<DeviceCertificateRow, 'issuedAt' | 'revokedAt' | 'revocationReason'>,
  ): Promise<void> {
    await this.pool.query(
      `INSERT INTO registry.device_certificates
         (serial_number, meter_id, ca_key_id, fingerprint_sha256, not_before, not_after, issued_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [
        cert.serialNumber,
        cert.meterId,
        cert.caKeyId,
        cert.fingerprintSha256,
        cert.notBefore,
        cert.notAfter,
        cert.issuedBy,
      ],
    );
  }

  async listForMeter(meterId: string): Promise<DeviceCertificateRow[]> {
    const { rows } = await this.pool.query<Row>(
      'SELECT * FROM registry.device_certificates WHERE meter_id = $1 ORDER BY issued_at, serial_number',
      [meterId],
    );
    return rows.map(toCertificate);
  }

  /** Revokes the meter's certificates that are neither revoked nor expired; returns their serials. */
  async revokeActive(meterId: string, reason: RevocationReason): Promise<string[]> {
    const { rows } = await this.pool.query<{ serial_number: string }>(
      `UPDATE registry.device_certificates SET revoked_at = now(), revocation_reason = $2
       WHERE meter_id = $1 AND revoked_at IS NULL AND not_after > now()
       RETURNING serial_number`,
      [meterId, reason],
    );
    return rows.map((r) => r.serial_number).sort();
  }

  /** What the CA's CRL must list: its revoked certificates that have not expired yet. */
  async revokedEntries(caKeyId: string): Promise<RevokedEntry[]> {
    const { rows } = await this.pool.query<Row>(
      `SELECT serial_number, revoked_at, revocation_reason FROM registry.device_certificates
       WHERE ca_key_id = $1 AND revoked_at IS NOT NULL AND not_after > now()
       ORDER BY serial_number`,
      [caKeyId],
    );
    return rows.map((r) => ({
      serialNumber: r.serial_number,
      revokedAt: r.revoked_at!,
      reason: r.revocation_reason!,
    }));
  }

  /** The next CRL number, kept above `atLeast` (the number of a CRL someone else wrote). */
  async nextCrlNumber(atLeast = 0n): Promise<bigint> {
    const { rows } = await this.pool.query<{ n: string }>(
      `SELECT CASE WHEN $1::numeric >= (SELECT last_value FROM registry.crl_number)
                   THEN setval('registry.crl_number', $1::bigint + 1)
                   ELSE nextval('registry.crl_number') END::text AS n`,
      [atLeast.toString()],
    );
    return BigInt(rows[0]!.n);
  }
}
