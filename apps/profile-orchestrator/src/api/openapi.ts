import { z } from 'zod';
import { meterIdSchema, regionSchema } from '@meterlink/contracts';
import {
  buildOpenApiDocument as buildDocument,
  jsonBody,
  openApiOperation,
  type ApiBody,
  type ApiOperation as Operation,
  type JsonObject,
  type Role,
} from '@meterlink/service-kit';
import { API_COMPONENTS, auditQuerySchema, type ApiComponent } from './api-schemas';

export type ApiOperation = Operation<ApiComponent>;

const json = (schema: ApiComponent | JsonObject): ApiBody<ApiComponent> => jsonBody(schema);

const campaignAction = (
  action: 'approve' | 'pause' | 'resume' | 'stop',
  role: Role,
  summary: string,
  errors: Record<number, string>,
): ApiOperation => ({
  method: 'post',
  path: `/v1/campaigns/{campaignId}/${action}`,
  operationId: `${action}Campaign`,
  tag: 'campaigns',
  summary,
  role,
  ok: { status: 200, description: 'the campaign after the change', body: json('Campaign') },
  errors: { 404: 'no such campaign', ...errors },
});

/** Every route of the operator API. A unit test checks this list against the controllers. */
export const API_OPERATIONS: ApiOperation[] = [
  {
    method: 'post',
    path: '/v1/campaigns',
    operationId: 'createCampaign',
    tag: 'campaigns',
    summary: 'Start a campaign: move the selected meters to one carrier, in waves',
    description:
      'Meters already on the target carrier are left out. Waves grow from a canary by the growth ' +
      'factor up to the maximum wave size; the next wave starts once the current one has nothing ' +
      'in flight. Failures, rollbacks and expiries above the error threshold, or a finished wave ' +
      'below the success-rate gate, pause the campaign. Campaigns of more than ' +
      'CAMPAIGN_APPROVAL_THRESHOLD meters wait for an admin other than their creator.',
    role: 'operator',
    body: json('CreateCampaign'),
    ok: { status: 201, description: 'created', body: json('CampaignCreated') },
    errors: {
      409: 'target_in_outage: the target carrier is in outage in the region',
      422: 'unknown_carrier',
    },
  },
  {
    method: 'get',
    path: '/v1/campaigns',
    operationId: 'listCampaigns',
    tag: 'campaigns',
    summary: 'Campaigns, newest first (at most 200), with their progress',
    role: 'viewer',
    ok: { status: 200, description: 'the campaigns', body: json('CampaignList') },
  },
  {
    method: 'get',
    path: '/v1/campaigns/{campaignId}',
    operationId: 'getCampaign',
    tag: 'campaigns',
    summary: "A campaign's state, waves and totals",
    role: 'viewer',
    ok: { status: 200, description: 'the campaign', body: json('Campaign') },
    errors: { 404: 'no such campaign' },
  },
  campaignAction('approve', 'admin', 'Approve a large campaign (not by its creator)', {
    403: 'approver_is_creator (or not admin)',
    409: 'not_pending_approval',
  }),
  campaignAction('pause', 'operator', 'Pause a running campaign: no new swap starts', {
    409: 'not_running',
  }),
  campaignAction(
    'resume',
    'operator',
    'Resume a paused campaign (the gate that paused the current wave is not applied again)',
    { 409: 'not_paused' },
  ),
  campaignAction(
    'stop',
    'operator',
    'Emergency stop: no new swap; swaps whose enable package is not out yet are cancelled',
    { 409: 'already_finished' },
  ),
  {
    method: 'post',
    path: '/v1/meters/{meterId}/swaps',
    operationId: 'requestSwap',
    tag: 'meters',
    summary: "Move one meter to a carrier (downloading the carrier's profile if needed)",
    role: 'operator',
    body: json('SwapRequest'),
    ok: {
      status: 202,
      description: 'accepted: follow it on the history',
      body: json('SwapAccepted'),
    },
    errors: {
      404: 'no such meter',
      409:
        'swap_in_progress, already_on_target, target_in_outage, or another refusal of the swap ' +
        'policy (battery_low, battery_unknown, battery_budget_exhausted, not_under_contract, …)',
      422: 'unknown_carrier or no_enabled_profile',
    },
  },
  {
    method: 'get',
    path: '/v1/meters/{meterId}/swaps',
    operationId: 'listSwaps',
    tag: 'meters',
    summary: "A meter's swaps, newest first, with states, phases and reason codes",
    role: 'viewer',
    ok: { status: 200, description: 'the history', body: json('SwapHistory') },
    errors: { 404: 'no such meter' },
  },
  {
    method: 'get',
    path: '/v1/meters/{meterId}/pending-packages',
    operationId: 'listPendingPackages',
    tag: 'meters',
    summary: 'What waits for the meter (package or download trigger) and when it is expected',
    role: 'viewer',
    ok: { status: 200, description: 'pending packages', body: json('PendingPackages') },
    errors: { 404: 'no such meter' },
  },
  {
    method: 'get',
    path: '/v1/regions/{region}/coverage',
    operationId: 'getRegionCoverage',
    tag: 'regions',
    summary:
      'Each carrier’s meters in the region by coverage state, as the swap policy sees them ' +
      '(coverage.carriers.v1)',
    role: 'viewer',
    ok: { status: 200, description: 'per-carrier counts', body: json('RegionCoverage') },
  },
  {
    method: 'get',
    path: '/v1/audit',
    operationId: 'listAudit',
    tag: 'audit',
    summary: 'The append-only audit log of profile operations, newest first',
    role: 'admin',
    query: auditQuerySchema,
    ok: { status: 200, description: 'one page', body: json('AuditList') },
  },
  openApiOperation('/openapi.json'),
];

const PATH_PARAMETERS: Record<string, z.ZodType> = {
  meterId: meterIdSchema,
  campaignId: z.uuid(),
  region: regionSchema,
};

/**
 * The orchestrator's OpenAPI 3.1 document, generated from the API's zod schemas and the operation
 * list; served at GET /openapi.json and checked in as apps/profile-orchestrator/openapi.json (a
 * unit test fails when they differ: `node dist/apps/profile-orchestrator/src/api/write-openapi.js`
 * rewrites the file).
 */
export function buildOpenApiDocument(): JsonObject {
  return buildDocument({
    info: {
      title: 'meterlink profile orchestrator (eIM): operator API',
      version: '1',
      description:
        'Carrier swaps of meters (SGP.32 eIM): campaigns in waves with gates, approval and an ' +
        'emergency stop; single-meter swaps; swap history and pending packages; carrier coverage ' +
        'per region as the swap policy sees it; the audit log. ' +
        'Bearer tokens (ORCHESTRATOR_API_TOKENS) carry a role (viewer ⊂ operator ⊂ admin); ' +
        'x-required-role names the least role of each operation.',
    },
    serverUrl: 'http://localhost:3004',
    tags: ['campaigns', 'meters', 'regions', 'audit', 'meta'],
    components: API_COMPONENTS,
    operations: API_OPERATIONS,
    pathParameters: PATH_PARAMETERS,
    // This document has always said it of admin too.
    forbidden: (role) => `needs ${role} or above`,
  });
}
