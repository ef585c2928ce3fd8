import { z } from 'zod';
import { meterIdSchema } from '@meterlink/contracts';
import {
  buildOpenApiDocument as buildDocument,
  jsonBody,
  openApiOperation,
  type ApiBody,
  type ApiOperation as Operation,
  type JsonObject,
} from '@meterlink/service-kit';
import {
  API_COMPONENTS,
  auditQuerySchema,
  importErrorsQuerySchema,
  importListQuerySchema,
  meterListQuerySchema,
  type ApiComponent,
} from './api-schemas';

export type ApiOperation = Operation<ApiComponent>;

const json = (schema: ApiComponent): ApiBody<ApiComponent> => jsonBody(schema);
const pem: ApiBody<ApiComponent> = {
  contentType: 'application/x-pem-file',
  schema: { type: 'string' },
};

/** Every route of the operator API. A unit test checks this list against the controllers. */
export const API_OPERATIONS: ApiOperation[] = [
  {
    method: 'post',
    path: '/v1/imports/manifest',
    operationId: 'importManifest',
    tag: 'imports',
    summary: 'Import a factory manifest (NDJSON, streamed)',
    description:
      'One meter per line (provisioning.md). Valid lines are imported, invalid ones reported with ' +
      'their line number; importing the same manifest again changes nothing. The body is read as ' +
      'fast as it is imported, so a million-line upload is fine; the answer comes at the end, once ' +
      'the broker has every new credential.',
    role: 'admin',
    body: {
      contentType: 'application/x-ndjson',
      schema: { type: 'string', description: 'one ManifestLine (JSON) per line' },
      description: 'also accepted as text/plain or application/octet-stream',
    },
    ok: { status: 200, description: 'the import report', body: json('ImportReport') },
  },
  {
    method: 'put',
    path: '/v1/catalogue',
    operationId: 'importCatalogue',
    tag: 'catalogue',
    summary: 'Import the carrier catalogue (carriers, tariffs, region contracts)',
    role: 'admin',
    body: json('CarrierCatalogue'),
    ok: { status: 200, description: 'imported', body: json('CatalogueImportResult') },
  },
  {
    method: 'get',
    path: '/v1/catalogue',
    operationId: 'getCatalogue',
    tag: 'catalogue',
    summary: 'The catalogue as it stands, in the shape PUT takes',
    role: 'viewer',
    ok: { status: 200, description: 'the catalogue', body: json('CarrierCatalogue') },
  },
  {
    method: 'get',
    path: '/v1/carriers',
    operationId: 'listCarriers',
    tag: 'catalogue',
    summary: 'Carriers with their tariffs',
    role: 'viewer',
    ok: { status: 200, description: 'every carrier', body: json('CarrierList') },
  },
  {
    method: 'get',
    path: '/v1/carriers/{carrierId}',
    operationId: 'getCarrier',
    tag: 'catalogue',
    summary: 'One carrier and its tariff',
    role: 'viewer',
    ok: { status: 200, description: 'the carrier', body: json('Carrier') },
    errors: { 404: 'no such carrier' },
  },
  {
    method: 'get',
    path: '/v1/regions',
    operationId: 'listRegions',
    tag: 'catalogue',
    summary: 'Regions and the carriers under contract there, in order of preference',
    role: 'viewer',
    ok: { status: 200, description: 'every region', body: json('RegionList') },
  },
  {
    method: 'get',
    path: '/v1/regions/{region}',
    operationId: 'getRegion',
    tag: 'catalogue',
    summary: 'One region contract',
    role: 'viewer',
    ok: { status: 200, description: 'the region', body: json('Region') },
    errors: { 404: 'no such region' },
  },
  {
    method: 'get',
    path: '/v1/meters',
    operationId: 'listMeters',
    tag: 'meters',
    summary: 'Meters, by meterId, filtered by region, carrier or status, a page at a time',
    role: 'viewer',
    query: meterListQuerySchema,
    ok: { status: 200, description: 'one page', body: json('MeterPage') },
  },
  {
    method: 'get',
    path: '/v1/meters/{meterId}',
    operationId: 'getMeter',
    tag: 'meters',
    summary: 'One meter with its eUICC profile inventory',
    role: 'viewer',
    ok: { status: 200, description: 'the meter', body: json('FleetMeterRecord') },
    errors: { 404: 'no such meter' },
  },
  {
    method: 'post',
    path: '/v1/meters/{meterId}/decommission',
    operationId: 'decommissionMeter',
    tag: 'meters',
    summary: 'Decommission a meter: broker credential and certificates revoked, fleet told',
    description: 'Repeating it finishes what an interrupted call left undone.',
    role: 'operator',
    ok: { status: 200, description: 'the meter, decommissioned', body: json('FleetMeterRecord') },
    errors: { 404: 'no such meter' },
  },
  {
    method: 'post',
    path: '/v1/meters/{meterId}/certificates',
    operationId: 'issueCertificate',
    tag: 'device certificates',
    summary: "Issue a meter's TLS client certificate from its CSR",
    role: 'admin',
    body: json('CertificateRequest'),
    ok: { status: 201, description: 'issued', body: json('IssuedCertificate') },
    errors: {
      404: 'no such meter',
      409: 'the meter is not active, or its meterId is a service identity of the broker',
      422: 'csr_unsupported_key, csr_bad_signature or csr_subject_mismatch',
      503: 'device PKI not configured',
    },
  },
  {
    method: 'get',
    path: '/v1/meters/{meterId}/certificates',
    operationId: 'listCertificates',
    tag: 'device certificates',
    summary: "A meter's certificates (active, expired, revoked)",
    role: 'viewer',
    ok: { status: 200, description: 'its certificates', body: json('CertificateList') },
    errors: { 404: 'no such meter' },
  },
  {
    method: 'post',
    path: '/v1/meters/{meterId}/certificates/revoke',
    operationId: 'revokeCertificates',
    tag: 'device certificates',
    summary: "Revoke all of a meter's valid certificates and disconnect it",
    role: 'operator',
    body: json('RevocationRequest'),
    ok: { status: 200, description: 'the serials revoked now', body: json('RevocationResult') },
    errors: { 404: 'no such meter' },
  },
  {
    method: 'get',
    path: '/v1/pki/ca.pem',
    operationId: 'getDeviceCa',
    tag: 'device certificates',
    summary: 'The device CA certificate',
    role: 'public',
    ok: { status: 200, description: 'PEM', body: pem },
    errors: { 503: 'device PKI not configured' },
  },
  {
    method: 'get',
    path: '/v1/pki/crl.pem',
    operationId: 'getDeviceCrl',
    tag: 'device certificates',
    summary: 'The current CRL of the device CA',
    role: 'public',
    ok: { status: 200, description: 'PEM', body: pem },
    errors: { 503: 'device PKI not configured, or no CRL published yet' },
  },
  {
    method: 'get',
    path: '/v1/imports',
    operationId: 'listImports',
    tag: 'imports',
    summary: 'Imports, newest first, without their line errors',
    role: 'viewer',
    query: importListQuerySchema,
    ok: { status: 200, description: 'one page', body: json('ImportList') },
  },
  {
    method: 'get',
    path: '/v1/imports/{importId}',
    operationId: 'getImport',
    tag: 'imports',
    summary:
      "An import's report, with its first line errors; a running one shows its counts so far",
    role: 'viewer',
    ok: { status: 200, description: 'the report', body: json('ImportReport') },
    errors: { 404: 'no such import' },
  },
  {
    method: 'get',
    path: '/v1/imports/{importId}/errors',
    operationId: 'listImportErrors',
    tag: 'imports',
    summary: 'Every line error of an import, by line number, a page at a time',
    description:
      'All of them, however many (the report carries the first 10,000 inline). A running import ' +
      'shows those found so far.',
    role: 'viewer',
    query: importErrorsQuerySchema,
    ok: { status: 200, description: 'one page', body: json('ImportErrorPage') },
    errors: { 404: 'no such import' },
  },
  {
    method: 'get',
    path: '/v1/audit',
    operationId: 'listAudit',
    tag: 'audit',
    summary: 'The append-only audit log, newest first',
    role: 'admin',
    query: auditQuerySchema,
    ok: { status: 200, description: 'one page', body: json('AuditList') },
  },
  openApiOperation('/v1/openapi.json'),
];

const PATH_PARAMETERS: Record<string, z.ZodType> = {
  meterId: meterIdSchema,
  carrierId: z.string().min(1),
  region: z.string().min(1),
  importId: z.uuid(),
};

/**
 * The registry's OpenAPI 3.1 document, generated from the API's zod schemas and the operation
 * list; served at GET /v1/openapi.json and checked in as apps/registry/openapi.json (a unit test
 * fails when they differ: `node dist/apps/registry/src/api/write-openapi.js` rewrites the file).
 */
export function buildOpenApiDocument(): JsonObject {
  return buildDocument({
    info: {
      title: 'meterlink registry: operator API',
      version: '1',
      description:
        'Fleet registry of the meterlink platform: factory manifests and the carrier catalogue in, ' +
        'meters, carriers, regions, imports and the audit log out, meter certificates. Bearer ' +
        'tokens carry a role (viewer ⊂ operator ⊂ admin); x-required-role names the least role ' +
        'of each operation.',
    },
    serverUrl: 'http://localhost:3001',
    tags: ['meters', 'catalogue', 'imports', 'audit', 'device certificates', 'meta'],
    components: API_COMPONENTS,
    operations: API_OPERATIONS,
    pathParameters: PATH_PARAMETERS,
  });
}
