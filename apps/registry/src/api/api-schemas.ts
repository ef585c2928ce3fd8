import { z } from 'zod';
import {
  carrierCatalogueSchema,
  carrierIdSchema,
  carrierSchema,
  fleetMeterRecordSchema,
  isoDateTimeSchema,
  manifestLineSchema,
  meterIdSchema,
  regionContractSchema,
  regionSchema,
} from '@meterlink/contracts';
import { REVOCATION_REASONS, type RevocationReason } from '@meterlink/device-pki';

/**
 * The operator API's requests and answers as zod schemas: controllers validate query strings
 * and bodies with them, their return types are these schemas' types, and the OpenAPI document
 * (openapi.ts) is generated from them, so the document cannot say what the code does not do.
 */

const limit = (fallback: number, max: number) =>
  z.coerce.number().int().min(1).max(max).default(fallback).describe(`page size, at most ${max}`);

export const errorSchema = z
  .object({
    statusCode: z.number().int(),
    message: z.union([z.string(), z.array(z.string())]),
    error: z.string().optional(),
    code: z.string().optional().describe('a stable code, where the route defines them'),
  })
  .describe('An error answer (NestJS format).');

// Meters

export const meterStatusSchema = z.enum(['active', 'decommissioned']);
export const meterListQuerySchema = z.object({
  region: regionSchema.optional().describe('meters installed in this region'),
  carrierId: carrierIdSchema.optional().describe('meters whose enabled profile is on this carrier'),
  status: meterStatusSchema.optional(),
  after: meterIdSchema.optional().describe('cursor: `nextAfter` of the previous page'),
  limit: limit(100, 1_000),
});
export const meterPageSchema = z.object({
  meters: z.array(fleetMeterRecordSchema),
  nextAfter: meterIdSchema
    .optional()
    .describe('present when there may be more: pass it as `after` for the next page'),
});

// Catalogue

export const carrierViewSchema = carrierSchema.extend({ updatedAt: isoDateTimeSchema });
export const carrierListSchema = z.object({ carriers: z.array(carrierViewSchema) });
export const regionViewSchema = regionContractSchema.extend({ updatedAt: isoDateTimeSchema });
export const regionListSchema = z.object({ regions: z.array(regionViewSchema) });
export const catalogueWarningSchema = z.object({
  code: z.enum(['uncatalogued_carrier']),
  region: regionSchema,
  carrierId: carrierIdSchema,
  path: z.string().describe('where the catalogue names it, e.g. `regions.1.carriers.1`'),
  message: z.string(),
});
export const catalogueImportResultSchema = z.object({
  importId: z.uuid(),
  carriers: z.number().int(),
  regions: z.number().int(),
  warnings: z
    .array(catalogueWarningSchema)
    .describe(
      'imported as it is, worth a look: a region naming a carrier the catalogue does not describe is kept under contract, and never chosen as a download target until it is described',
    ),
});

// Imports

export const importKindSchema = z.enum(['manifest', 'catalogue']);
export const importStatusSchema = z.enum(['running', 'completed', 'failed']);
export const lineErrorSchema = z.object({ line: z.number().int().positive(), reason: z.string() });
export const importSummarySchema = z.object({
  importId: z.uuid(),
  kind: importKindSchema,
  status: importStatusSchema,
  actor: z.string().describe('the API token that started it (token-<n>)'),
  startedAt: isoDateTimeSchema,
  finishedAt: isoDateTimeSchema.optional(),
  lines: z.number().int().describe('non-blank manifest lines read'),
  imported: z.number().int(),
  unchanged: z.number().int(),
  rejected: z.number().int(),
  failure: z.string().optional().describe('why a failed import stopped'),
  detail: z.record(z.string(), z.unknown()).optional().describe('counts of a catalogue import'),
});
export const importReportSchema = importSummarySchema.extend({
  errors: z
    .array(lineErrorSchema)
    .describe(
      'line errors, the first 10,000 by line number; `rejected` counts all of them, and GET /v1/imports/{importId}/errors pages through every one',
    ),
});
export const importErrorsQuerySchema = z.object({
  after: z.coerce
    .number()
    .int()
    .nonnegative()
    .default(0)
    .describe('cursor: `nextAfter` of the previous page (a line number)'),
  limit: limit(1_000, 10_000),
});
export const importErrorPageSchema = z.object({
  errors: z.array(lineErrorSchema).describe('by line number'),
  nextAfter: z
    .number()
    .int()
    .positive()
    .optional()
    .describe('present when there may be more: pass it as `after` for the next page'),
});
export const importListQuerySchema = z.object({
  kind: importKindSchema.optional(),
  status: importStatusSchema.optional(),
  before: z.uuid().optional().describe('cursor: `nextBefore` of the previous page'),
  limit: limit(50, 500),
});
export const importListSchema = z.object({
  imports: z.array(importSummarySchema).describe('newest first, without line errors'),
  nextBefore: z.uuid().optional(),
});

// Audit

export const auditEntrySchema = z.object({
  auditId: z.number().int().positive(),
  at: isoDateTimeSchema,
  actor: z.string().describe('an API token id (token-<n>), or `eim` for what swaps changed'),
  action: z
    .string()
    .describe(
      'manifest.import, catalogue.import, meter.decommission, device-certificate.issue, ...',
    ),
  subject: z.string().describe('a meterId, an importId, or `catalogue`'),
  detail: z.record(z.string(), z.unknown()),
});
export const auditQuerySchema = z.object({
  actor: z.string().min(1).optional(),
  action: z.string().min(1).optional(),
  subject: z.string().min(1).optional(),
  since: isoDateTimeSchema.optional().describe('entries at or after this time'),
  until: isoDateTimeSchema.optional().describe('entries before this time'),
  before: z.coerce.number().int().positive().optional().describe('cursor: `nextBefore`'),
  limit: limit(100, 1_000),
});
export const auditListSchema = z.object({
  entries: z.array(auditEntrySchema).describe('newest first'),
  nextBefore: z.number().int().positive().optional(),
});

// Device certificates (docs/device-identity.md)

export const certificateRequestSchema = z.object({
  csr: z.string().min(1).max(16_384).describe('PKCS#10, PEM, CN = meterId, P-256 key'),
});
export const revocationRequestSchema = z
  .object({ reason: z.enum(REVOCATION_REASONS as [RevocationReason, ...RevocationReason[]]) })
  .partial();
export const issuedCertificateSchema = z.object({
  meterId: meterIdSchema,
  serialNumber: z.string(),
  notBefore: isoDateTimeSchema,
  notAfter: isoDateTimeSchema,
  fingerprintSha256: z.string(),
  certificatePem: z.string(),
  caCertificatePem: z.string(),
});
export const certificateViewSchema = z.object({
  serialNumber: z.string(),
  notBefore: isoDateTimeSchema,
  notAfter: isoDateTimeSchema,
  fingerprintSha256: z.string(),
  issuedAt: isoDateTimeSchema,
  status: z.enum(['active', 'expired', 'revoked']),
  revokedAt: isoDateTimeSchema.optional(),
  revocationReason: z
    .enum(REVOCATION_REASONS as [RevocationReason, ...RevocationReason[]])
    .optional(),
});
export const certificateListSchema = z.object({ certificates: z.array(certificateViewSchema) });
export const revocationResultSchema = z.object({ revoked: z.array(z.string()) });

/** The components of the OpenAPI document, by name. */
export const API_COMPONENTS = {
  Error: errorSchema,
  FleetMeterRecord: fleetMeterRecordSchema,
  MeterPage: meterPageSchema,
  ManifestLine: manifestLineSchema,
  CarrierCatalogue: carrierCatalogueSchema,
  CatalogueImportResult: catalogueImportResultSchema,
  CatalogueWarning: catalogueWarningSchema,
  Carrier: carrierViewSchema,
  CarrierList: carrierListSchema,
  Region: regionViewSchema,
  RegionList: regionListSchema,
  LineError: lineErrorSchema,
  ImportSummary: importSummarySchema,
  ImportReport: importReportSchema,
  ImportErrorPage: importErrorPageSchema,
  ImportList: importListSchema,
  AuditEntry: auditEntrySchema,
  AuditList: auditListSchema,
  CertificateRequest: certificateRequestSchema,
  RevocationRequest: revocationRequestSchema,
  IssuedCertificate: issuedCertificateSchema,
  Certificate: certificateViewSchema,
  CertificateList: certificateListSchema,
  RevocationResult: revocationResultSchema,
} as const;
export type ApiComponent = keyof typeof API_COMPONENTS;
