import { z } from 'zod';
import { meterIdSchema } from '@meterlink/contracts';
import type { Role } from '@meterlink/service-kit';
import {
  API_COMPONENTS,
  auditQuerySchema,
  importListQuerySchema,
  meterListQuerySchema,
  type ApiComponent,
} from './api-schemas';

type JsonObject = Record<string, unknown>;
type Method = 'get' | 'post' | 'put';

interface Body {
  contentType: string;
  /** A component name, or an inline JSON Schema. */
  schema: ApiComponent | JsonObject;
  description?: string;
}

export interface ApiOperation {
  method: Method;
  /** OpenAPI path, `{param}` style. */
  path: string;
  operationId: string;
  tag: string;
  summary: string;
  description?: string;
  /** The least role; `public` needs no token. */
  role: Role | 'public';
  query?: z.ZodObject;
  body?: Body;
  /** Success status and what it returns. */
  ok: { status: number; description: string; body?: Body };
  /** Error statuses this operation answers besides 400/401/403 (implied by query, body, role). */
  errors?: Record<number, string>;
}

const json = (schema: ApiComponent): Body => ({ contentType: 'application/json', schema });
const pem: Body = { contentType: 'application/x-pem-file', schema: { type: 'string' } };

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
    summary: "An import's report, with its line errors; a running one shows its counts so far",
    role: 'viewer',
    ok: { status: 200, description: 'the report', body: json('ImportReport') },
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
  {
    method: 'get',
    path: '/v1/openapi.json',
    operationId: 'getOpenApi',
    tag: 'meta',
    summary: 'This document',
    role: 'public',
    ok: {
      status: 200,
      description: 'OpenAPI 3.1',
      body: { contentType: 'application/json', schema: { type: 'object' } },
    },
  },
];

const PATH_PARAMETERS: Record<string, z.ZodType> = {
  meterId: meterIdSchema,
  carrierId: z.string().min(1),
  region: z.string().min(1),
  importId: z.uuid(),
};

/** Without `$schema` and `$id`: the document's components and parameters need neither. */
const bare = (schema: JsonObject): JsonObject =>
  Object.fromEntries(Object.entries(schema).filter(([key]) => key !== '$schema' && key !== '$id'));

const inputSchema = (schema: z.ZodType): JsonObject =>
  bare(z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }));

function content(body: Body): JsonObject {
  const schema =
    typeof body.schema === 'string' ? { $ref: `#/components/schemas/${body.schema}` } : body.schema;
  return { [body.contentType]: { schema } };
}

function operation(op: ApiOperation): JsonObject {
  const pathParameters = [...op.path.matchAll(/\{(\w+)\}/g)].map(([, name]) => ({
    name,
    in: 'path',
    required: true,
    schema: inputSchema(PATH_PARAMETERS[name!] ?? z.string()),
  }));
  const queryParameters = Object.entries(op.query?.shape ?? {}).map(([name, field]) => {
    const schema = field as z.ZodType;
    return {
      name,
      in: 'query',
      required: !schema.safeParse(undefined).success,
      ...(schema.description ? { description: schema.description } : {}),
      schema: inputSchema(schema),
    };
  });
  const error = { content: content(json('Error')) };
  const responses: Record<string, unknown> = {
    [op.ok.status]: {
      description: op.ok.description,
      ...(op.ok.body ? { content: content(op.ok.body) } : {}),
    },
  };
  if (op.query || op.body || pathParameters.length > 0)
    responses['400'] = { description: 'the request does not parse (each problem named)', ...error };
  if (op.role !== 'public') {
    responses['401'] = { description: 'no valid bearer token', ...error };
    responses['403'] = {
      description: op.role === 'admin' ? 'needs admin' : `needs ${op.role} or above`,
      ...error,
    };
  }
  for (const [status, description] of Object.entries(op.errors ?? {}))
    responses[status] = { description, ...error };
  return {
    operationId: op.operationId,
    tags: [op.tag],
    summary: op.summary,
    ...(op.description ? { description: op.description } : {}),
    security: op.role === 'public' ? [] : [{ bearerToken: [] }],
    'x-required-role': op.role,
    ...(pathParameters.length + queryParameters.length > 0
      ? { parameters: [...pathParameters, ...queryParameters] }
      : {}),
    ...(op.body
      ? {
          requestBody: {
            required: true,
            ...(op.body.description ? { description: op.body.description } : {}),
            content: content(op.body),
          },
        }
      : {}),
    responses,
  };
}

/**
 * The registry's OpenAPI 3.1 document, generated from the API's zod schemas and the operation
 * list; served at GET /v1/openapi.json and checked in as apps/registry/openapi.json (a unit test
 * fails when they differ: `node dist/apps/registry/src/api/write-openapi.js` rewrites the file).
 */
export function buildOpenApiDocument(): JsonObject {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(API_COMPONENTS)) registry.add(schema, { id });
  const schemas = (
    z.toJSONSchema(registry, {
      io: 'output',
      unrepresentable: 'any',
      uri: (id) => `#/components/schemas/${id}`,
    }) as { schemas: Record<string, JsonObject> }
  ).schemas;
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of API_OPERATIONS) (paths[op.path] ??= {})[op.method] = operation(op);
  return {
    openapi: '3.1.0',
    info: {
      title: 'meterlink registry: operator API',
      version: '1',
      description:
        'Fleet registry of the meterlink platform: factory manifests and the carrier catalogue in, ' +
        'meters, carriers, regions, imports and the audit log out, meter certificates. Bearer ' +
        'tokens carry a role (viewer ⊂ operator ⊂ admin); x-required-role names the least role ' +
        'of each operation.',
    },
    servers: [{ url: 'http://localhost:3001' }],
    tags: [
      { name: 'meters' },
      { name: 'catalogue' },
      { name: 'imports' },
      { name: 'audit' },
      { name: 'device certificates' },
      { name: 'meta' },
    ],
    paths,
    components: {
      securitySchemes: { bearerToken: { type: 'http', scheme: 'bearer' } },
      schemas: Object.fromEntries(Object.entries(schemas).map(([id, s]) => [id, bare(s)])),
    },
  };
}
