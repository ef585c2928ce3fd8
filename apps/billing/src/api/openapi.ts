import { z } from 'zod';
import { billingPeriodSchema, carrierIdSchema, meterIdSchema } from '@meterlink/contracts';
import type { Role } from '@meterlink/service-kit';
import {
  API_COMPONENTS,
  auditQuerySchema,
  statementQuerySchema,
  type ApiComponent,
} from './api-schemas';

type JsonObject = Record<string, unknown>;

export interface ApiOperation {
  method: 'get' | 'post';
  path: string;
  operationId: string;
  tag: string;
  summary: string;
  description?: string;
  role: Role | 'public';
  query?: z.ZodObject;
  ok: { status: number; description: string; component?: ApiComponent; csv?: boolean };
  errors?: Record<number, string>;
}

const STATEMENT_DESCRIPTION =
  'The lines billed in the month (corrections of closed months included, with servicePeriod ' +
  'and correctionOf), each rounded half-even once, and their totals. format=csv answers ' +
  'text/csv with one row per line.';

/** Every route of the statements API. A unit test checks this list against the controllers. */
export const API_OPERATIONS: ApiOperation[] = [
  {
    method: 'get',
    path: '/v1/statements/carriers/{carrierId}/{period}',
    operationId: 'carrierStatement',
    tag: 'statements',
    summary: "A carrier's connectivity charges for a month (to reconcile its invoice)",
    description: STATEMENT_DESCRIPTION,
    role: 'viewer',
    query: statementQuerySchema,
    ok: { status: 200, description: 'the statement', component: 'Statement', csv: true },
  },
  {
    method: 'get',
    path: '/v1/statements/customers/{customerId}/{period}',
    operationId: 'customerStatement',
    tag: 'statements',
    summary: "A customer's charges for a month: consumption and its meters' connectivity",
    description: STATEMENT_DESCRIPTION,
    role: 'viewer',
    query: statementQuerySchema,
    ok: { status: 200, description: 'the statement', component: 'Statement', csv: true },
  },
  {
    method: 'get',
    path: '/v1/statements/meters/{meterId}/{period}',
    operationId: 'meterStatement',
    tag: 'statements',
    summary: "A meter's charges for a month",
    description: STATEMENT_DESCRIPTION,
    role: 'viewer',
    query: statementQuerySchema,
    ok: { status: 200, description: 'the statement', component: 'Statement', csv: true },
  },
  {
    method: 'get',
    path: '/v1/meters/{meterId}/charge-audit',
    operationId: 'meterChargeAudit',
    tag: 'audit',
    summary: "Every change to a meter's charge lines: old and new amounts, and why",
    role: 'viewer',
    query: auditQuerySchema,
    ok: { status: 200, description: 'oldest first', component: 'AuditList' },
  },
  {
    method: 'get',
    path: '/v1/months',
    operationId: 'listClosedMonths',
    tag: 'months',
    summary: 'The closed months',
    role: 'viewer',
    ok: { status: 200, description: 'closed months, oldest first', component: 'MonthList' },
  },
  {
    method: 'post',
    path: '/v1/months/{period}/close',
    operationId: 'closeMonth',
    tag: 'months',
    summary: 'Close a month: its lines never change again',
    description:
      'Later input for the month is billed as correction lines in the next open month. ' +
      'Closing a closed month answers its close again (alreadyClosed).',
    role: 'admin',
    ok: { status: 200, description: 'closed', component: 'MonthCloseResult' },
    errors: { 409: 'month_not_over: the month has not ended yet' },
  },
  {
    method: 'get',
    path: '/v1/openapi.json',
    operationId: 'getOpenApi',
    tag: 'meta',
    summary: 'This document',
    role: 'public',
    ok: { status: 200, description: 'OpenAPI 3.1' },
  },
];

const PATH_PARAMETERS: Record<string, z.ZodType> = {
  meterId: meterIdSchema,
  carrierId: carrierIdSchema,
  customerId: z.string().min(1).max(128),
  period: billingPeriodSchema,
};

const bare = (schema: JsonObject): JsonObject =>
  Object.fromEntries(Object.entries(schema).filter(([key]) => key !== '$schema' && key !== '$id'));
const inputSchema = (schema: z.ZodType): JsonObject =>
  bare(z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }));
const ref = (component: ApiComponent): JsonObject => ({
  $ref: `#/components/schemas/${component}`,
});

function operation(op: ApiOperation): JsonObject {
  const parameters = [
    ...[...op.path.matchAll(/\{(\w+)\}/g)].map(([, name]) => ({
      name,
      in: 'path',
      required: true,
      schema: inputSchema(PATH_PARAMETERS[name!] ?? z.string()),
    })),
    ...Object.entries(op.query?.shape ?? {}).map(([name, field]) => {
      const schema = field as z.ZodType;
      return {
        name,
        in: 'query',
        required: !schema.safeParse(undefined).success,
        ...(schema.description ? { description: schema.description } : {}),
        schema: inputSchema(schema),
      };
    }),
  ];
  const error = { content: { 'application/json': { schema: ref('Error') } } };
  const content: JsonObject = {
    'application/json': { schema: op.ok.component ? ref(op.ok.component) : { type: 'object' } },
  };
  if (op.ok.csv) content['text/csv'] = { schema: { type: 'string' } };
  const responses: Record<string, unknown> = {
    [op.ok.status]: { description: op.ok.description, content },
  };
  if (parameters.length > 0)
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
    ...(parameters.length > 0 ? { parameters } : {}),
    responses,
  };
}

/**
 * The billing service's OpenAPI 3.1 document, generated from the API's zod schemas; served at
 * GET /v1/openapi.json and checked in as apps/billing/openapi.json (a unit test fails when they
 * differ: `node dist/apps/billing/src/api/write-openapi.js` rewrites the file).
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
      title: 'meterlink billing: statements API',
      version: '1',
      description:
        'Rated charges of the meterlink platform: statements per carrier, customer and meter ' +
        'and month (JSON or CSV), the charge audit trail, and month close. Money is in integer ' +
        'minor units of the line’s currency. Bearer tokens carry a role (viewer ⊂ operator ⊂ ' +
        'admin); x-required-role names the least role of each operation.',
    },
    servers: [{ url: 'http://localhost:3005' }],
    tags: [{ name: 'statements' }, { name: 'audit' }, { name: 'months' }, { name: 'meta' }],
    paths,
    components: {
      securitySchemes: { bearerToken: { type: 'http', scheme: 'bearer' } },
      schemas: Object.fromEntries(Object.entries(schemas).map(([id, s]) => [id, bare(s)])),
    },
  };
}
