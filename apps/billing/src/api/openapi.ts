import { z } from 'zod';
import { billingPeriodSchema, carrierIdSchema, meterIdSchema } from '@meterlink/contracts';
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
  statementQuerySchema,
  type ApiComponent,
} from './api-schemas';

export type ApiOperation = Operation<ApiComponent>;

const json = (schema: ApiComponent | JsonObject): ApiBody<ApiComponent> => jsonBody(schema);
const csv: ApiBody<ApiComponent> = { contentType: 'text/csv', schema: { type: 'string' } };

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
    ok: { status: 200, description: 'the statement', body: [json('Statement'), csv] },
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
    ok: { status: 200, description: 'the statement', body: [json('Statement'), csv] },
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
    ok: { status: 200, description: 'the statement', body: [json('Statement'), csv] },
  },
  {
    method: 'get',
    path: '/v1/meters/{meterId}/charge-audit',
    operationId: 'meterChargeAudit',
    tag: 'audit',
    summary: "Every change to a meter's charge lines: old and new amounts, and why",
    role: 'viewer',
    query: auditQuerySchema,
    ok: { status: 200, description: 'oldest first', body: json('AuditList') },
  },
  {
    method: 'get',
    path: '/v1/months',
    operationId: 'listClosedMonths',
    tag: 'months',
    summary: 'The closed months',
    role: 'viewer',
    ok: { status: 200, description: 'closed months, oldest first', body: json('MonthList') },
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
    ok: { status: 200, description: 'closed', body: json('MonthCloseResult') },
    errors: { 409: 'month_not_over: the month has not ended yet' },
  },
  openApiOperation('/v1/openapi.json'),
];

const PATH_PARAMETERS: Record<string, z.ZodType> = {
  meterId: meterIdSchema,
  carrierId: carrierIdSchema,
  customerId: z.string().min(1).max(128),
  period: billingPeriodSchema,
};

/**
 * The billing service's OpenAPI 3.1 document, generated from the API's zod schemas; served at
 * GET /v1/openapi.json and checked in as apps/billing/openapi.json (a unit test fails when they
 * differ: `node dist/apps/billing/src/api/write-openapi.js` rewrites the file).
 */
export function buildOpenApiDocument(): JsonObject {
  return buildDocument({
    info: {
      title: 'meterlink billing: statements API',
      version: '1',
      description:
        'Rated charges of the meterlink platform: statements per carrier, customer and meter ' +
        'and month (JSON or CSV), the charge audit trail, and month close. Money is in integer ' +
        'minor units of the line’s currency. Bearer tokens carry a role (viewer ⊂ operator ⊂ ' +
        'admin); x-required-role names the least role of each operation.',
    },
    serverUrl: 'http://localhost:3005',
    tags: ['statements', 'audit', 'months', 'meta'],
    components: API_COMPONENTS,
    operations: API_OPERATIONS,
    pathParameters: PATH_PARAMETERS,
  });
}
