import { Inject, Injectable } from '@nestjs/common';
import {
  DevicePkiError,
  caKeyId,
  certificateToPem,
  issueMeterCertificate,
  randomSerialNumber,
  readMeterCsr,
  sha256Fingerprint,
  type DeviceCaStore,
  type DevicePkiErrorCode,
  type RevocationReason,
} from '@meterlink/device-pki';
import { counter, createLogger } from '@meterlink/observability';
import { REGISTRY_CONFIG } from '../tokens';
import type { RegistryConfig } from '../config';
import { MetersRepository } from '../meters/meters.repository';
import { BrokerCredentialsService } from '../broker/broker-credentials.service';
import { PasswordFileService } from '../broker/password-file.service';
import { AuditLogRepository } from '../audit/audit-log.repository';
import { DEVICE_CA_STORE } from './device-ca.tokens';
import {
  DeviceCertificatesRepository,
  UNIQUE_VIOLATION,
  type DeviceCertificateRow,
} from './device-certificates.repository';
import { CrlPublisherService } from './crl-publisher.service';

export type DeviceCertificateErrorCode =
  | 'pki_disabled'
  | 'meter_not_found'
  | 'meter_not_active'
  | 'meter_id_reserved'
  | Exclude<DevicePkiErrorCode, 'ca_invalid'>;

export class DeviceCertificateError extends Error {
  constructor(
    readonly code: DeviceCertificateErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'DeviceCertificateError';
  }
}

export interface IssuedCertificate {
  meterId: string;
  serialNumber: string;
  notBefore: string;
  notAfter: string;
  fingerprintSha256: string;
  certificatePem: string;
  caCertificatePem: string;
}

export interface CertificateView {
  serialNumber: string;
  notBefore: string;
  notAfter: string;
  fingerprintSha256: string;
  issuedAt: string;
  status: 'active' | 'expired' | 'revoked';
  revokedAt?: string;
  revocationReason?: RevocationReason;
}

const view = (c: DeviceCertificateRow, now = new Date()): CertificateView => ({
  serialNumber: c.serialNumber,
  notBefore: c.notBefore.toISOString(),
  notAfter: c.notAfter.toISOString(),
  fingerprintSha256: c.fingerprintSha256,
  issuedAt: c.issuedAt.toISOString(),
  status: c.revokedAt ? 'revoked' : c.notAfter <= now ? 'expired' : 'active',
  ...(c.revokedAt ? { revokedAt: c.revokedAt.toISOString() } : {}),
  ...(c.revocationReason ? { revocationReason: c.revocationReason } : {}),
});

/**
 * Meter client certificates for mutual TLS (CN = meterId): issued from a CSR, so the meter keeps
 * its private key; recorded in PostgreSQL; revoked through the CRL, after which the meter's open
 * connections are closed so that it must present a certificate again.
 */
@Injectable()
export class DeviceCertificatesService {
  private readonly log = createLogger('DeviceCertificatesService');
  private readonly issuedTotal = counter(
    'device_certificates_issued_total',
    'Meter client certificates issued',
  );
  private readonly revokedTotal = counter(
    'device_certificates_revoked_total',
    'Meter client certificates revoked',
    ['reason'],
  );

  constructor(
    @Inject(REGISTRY_CONFIG) private readonly config: RegistryConfig,
    @Inject(DEVICE_CA_STORE) private readonly store: DeviceCaStore | null,
    private readonly certificates: DeviceCertificatesRepository,
    private readonly meters: MetersRepository,
    private readonly crl: CrlPublisherService,
    private readonly broker: BrokerCredentialsService,
    private readonly passwordFile: PasswordFileService,
    private readonly audit: AuditLogRepository,
  ) {}

  get enabled(): boolean {
    return this.store !== null;
  }

  caCertificatePem(): string {
    if (!this.store) throw new DeviceCertificateError('pki_disabled', 'device PKI not configured');
    return certificateToPem(this.store.current().certificate);
  }

  async issue(meterId: string, csrPem: string, actor: string): Promise<IssuedCertificate> {
    if (!this.store) throw new DeviceCertificateError('pki_disabled', 'device PKI not configured');
    const meter = await this.meters.get(meterId);
    if (!meter) throw new DeviceCertificateError('meter_not_found', `meter ${meterId} not found`);
    if (meter.record.status !== 'active')
      throw new DeviceCertificateError(
        'meter_not_active',
        `meter ${meterId} is ${meter.record.status}`,
      );
    if (await this.broker.isOtherIdentity(meterId))
      throw new DeviceCertificateError(
        'meter_id_reserved',
        `${meterId} is a broker identity of its own (a service's): no certificate with that CN`,
      );
    let publicKey;
    try {
      publicKey = await readMeterCsr(csrPem, meterId);
    } catch (error) {
      if (error instanceof DevicePkiError && error.code !== 'ca_invalid')
        throw new DeviceCertificateError(error.code, error.message);
      throw error;
    }
    const ca = this.store.current();
    // 128 random bits never collide in practice; the primary key makes sure, and we draw again.
    for (let attempt = 1; ; attempt++) {
      const serialNumber = randomSerialNumber();
      const certificate = await issueMeterCertificate({
        ca,
        meterId,
        publicKey,
        serialNumber,
        validityDays: this.config.DEVICE_CERT_VALIDITY_DAYS,
      });
      const fingerprintSha256 = await sha256Fingerprint(certificate);
      try {
        await this.certificates.insert({
          serialNumber: certificate.serialNumber,
          meterId,
          caKeyId: caKeyId(ca.certificate),
          fingerprintSha256,
          notBefore: certificate.notBefore,
          notAfter: certificate.notAfter,
          issuedBy: actor,
        });
      } catch (error) {
        if ((error as { code?: string }).code === UNIQUE_VIOLATION && attempt < 3) continue;
        throw error;
      }
      await this.audit.append(actor, 'device-certificate.issue', meterId, {
        serialNumber: certificate.serialNumber,
        notAfter: certificate.notAfter.toISOString(),
        fingerprintSha256,
      });
      this.issuedTotal.inc();
      this.log.info(
        { meterId, serialNumber: certificate.serialNumber, notAfter: certificate.notAfter },
        'device certificate issued',
      );
      return {
        meterId,
        serialNumber: certificate.serialNumber,
        notBefore: certificate.notBefore.toISOString(),
        notAfter: certificate.notAfter.toISOString(),
        fingerprintSha256,
        certificatePem: certificateToPem(certificate),
        caCertificatePem: certificateToPem(ca.certificate),
      };
    }
  }

  async list(meterId: string): Promise<CertificateView[]> {
    if (!(await this.meters.get(meterId)))
      throw new DeviceCertificateError('meter_not_found', `meter ${meterId} not found`);
    return (await this.certificates.listForMeter(meterId)).map((c) => view(c));
  }

  /**
   * Revokes every certificate of the meter that is still valid, publishes the new CRL (the broker
   * refuses those certificates from its reload on), then closes the meter's open connections,
   * which a CRL alone leaves up. Safe to repeat: with nothing left to revoke it changes nothing.
   */
  async revokeAll(
    meterId: string,
    reason: RevocationReason,
    actor: string,
  ): Promise<{ revoked: string[] }> {
    const revoked = await this.certificates.revokeActive(meterId, reason);
    if (revoked.length > 0) {
      await this.audit.append(actor, 'device-certificate.revoke', meterId, {
        serialNumbers: revoked,
        reason,
      });
      this.revokedTotal.inc({ reason }, revoked.length);
      this.log.info({ meterId, serialNumbers: revoked, reason }, 'device certificates revoked');
    }
    // A repeated call publishes again if the last CRL did not get out (the revocation is stored).
    if (this.store && (revoked.length > 0 || this.crl.stale)) await this.crl.publish();
    else if (revoked.length > 0)
      this.log.warn({ meterId }, 'device PKI not configured: no CRL carries this revocation');
    // SIGHUP only asks the broker to re-read the CRL: a meter disconnected before it has could
    // log in again with the revoked certificate and keep that connection. In password-file mode
    // a password file write is the barrier: it resolves once the broker ran a reload that started
    // after it (its canary got in), and that reload read this CRL too. (Not in dynsec mode.)
    await this.passwordFile.render();
    await this.broker.disconnect(meterId);
    return { revoked };
  }
}
