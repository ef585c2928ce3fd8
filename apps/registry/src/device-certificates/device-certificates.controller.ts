import {
  BadRequestException,
  Body,
  ConflictException,
  Controller,
  Get,
  Header,
  HttpCode,
  HttpException,
  HttpStatus,
  NotFoundException,
  Param,
  Post,
  Req,
  ServiceUnavailableException,
  UnprocessableEntityException,
  UseGuards,
} from '@nestjs/common';
import { z } from 'zod';
import { REVOCATION_REASONS, type RevocationReason } from '@meterlink/device-pki';
import { ApiAuthGuard, RequiresRole, type AuthenticatedRequest } from '@meterlink/service-kit';
import {
  DeviceCertificateError,
  DeviceCertificatesService,
  type CertificateView,
  type IssuedCertificate,
} from './device-certificates.service';
import { CrlPublisherService } from './crl-publisher.service';

const issueBody = z.object({ csr: z.string().min(1).max(16_384) });
const revokeBody = z
  .object({ reason: z.enum(REVOCATION_REASONS as [RevocationReason, ...RevocationReason[]]) })
  .partial();

/** Maps the certificate domain errors to HTTP, in one exhaustive switch. */
export function toHttp(error: unknown): unknown {
  if (!(error instanceof DeviceCertificateError)) return error;
  switch (error.code) {
    case 'pki_disabled':
      return new ServiceUnavailableException(error.message);
    case 'meter_not_found':
      return new NotFoundException(error.message);
    case 'meter_not_active':
      return new ConflictException(error.message);
    case 'meter_id_reserved':
      return new ConflictException({ code: error.code, message: error.message });
    case 'csr_malformed':
      return new BadRequestException({ code: error.code, message: error.message });
    case 'csr_bad_signature':
    case 'csr_unsupported_key':
    case 'csr_subject_mismatch':
      return new UnprocessableEntityException({ code: error.code, message: error.message });
  }
}

async function mapped<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    throw toHttp(error);
  }
}

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body ?? {});
  if (!parsed.success)
    throw new BadRequestException(
      parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`),
    );
  return parsed.data;
}

/** Operator API for meter client certificates (docs/device-identity.md). */
@UseGuards(ApiAuthGuard)
@Controller('v1/meters/:meterId/certificates')
export class DeviceCertificatesController {
  constructor(private readonly certificates: DeviceCertificatesService) {}

  /**
   * Issues a certificate for a CSR the meter (or its factory station) made: the private key never
   * leaves the meter. Admin only, like the manifest import that carries meter passwords.
   */
  @Post()
  @RequiresRole('admin')
  async issue(
    @Param('meterId') meterId: string,
    @Body() body: unknown,
    @Req() request: AuthenticatedRequest,
  ): Promise<IssuedCertificate> {
    const { csr } = parse(issueBody, body);
    return mapped(this.certificates.issue(meterId, csr, request.operator?.id ?? 'unknown'));
  }

  @Get()
  @RequiresRole('viewer')
  async list(@Param('meterId') meterId: string): Promise<{ certificates: CertificateView[] }> {
    return { certificates: await mapped(this.certificates.list(meterId)) };
  }

  /** Revokes all of the meter's valid certificates and disconnects it. */
  @Post('revoke')
  @HttpCode(200)
  @RequiresRole('operator')
  async revoke(
    @Param('meterId') meterId: string,
    @Body() body: unknown,
    @Req() request: AuthenticatedRequest,
  ): Promise<{ revoked: string[] }> {
    const { reason } = parse(revokeBody, body);
    await mapped(this.certificates.list(meterId)); // 404 for an unknown meter
    return mapped(
      this.certificates.revokeAll(
        meterId,
        reason ?? 'unspecified',
        request.operator?.id ?? 'unknown',
      ),
    );
  }
}

/** Public, like the eIM's JWKS: meters, factories and brokers fetch what they must trust. */
@Controller('v1/pki')
export class PkiController {
  constructor(
    private readonly certificates: DeviceCertificatesService,
    private readonly crl: CrlPublisherService,
  ) {}

  @Get('ca.pem')
  @Header('content-type', 'application/x-pem-file')
  caCertificate(): string {
    try {
      return this.certificates.caCertificatePem();
    } catch (error) {
      throw toHttp(error);
    }
  }

  /** The current CRL, for a broker that does not share the registry's disk. */
  @Get('crl.pem')
  @Header('content-type', 'application/x-pem-file')
  @Header('cache-control', 'no-cache')
  currentCrl(): string {
    const current = this.crl.current();
    if (!this.certificates.enabled)
      throw new ServiceUnavailableException('device PKI not configured');
    if (!current) throw new HttpException('no CRL published yet', HttpStatus.SERVICE_UNAVAILABLE);
    return current.pem;
  }
}
