import { join } from 'node:path';
import { ApiAuthGuard } from '@meterlink/service-kit';
import { controllerRoutes, describeOpenApiDocument } from '@meterlink/testing';
import {
  AuditController,
  CampaignsController,
  MeterSwapsController,
  OpenApiController,
  RegionCoverageController,
} from './operator-api.controller';
import { API_OPERATIONS, buildOpenApiDocument } from './openapi';

const CONTROLLERS = [
  CampaignsController,
  MeterSwapsController,
  RegionCoverageController,
  AuditController,
  OpenApiController,
];

describeOpenApiDocument('orchestrator OpenAPI document', {
  file: join(__dirname, '..', '..', 'openapi.json'),
  build: buildOpenApiDocument,
  operations: API_OPERATIONS,
  controllers: CONTROLLERS,
  guard: ApiAuthGuard,
  regenerate: 'npm run build && node dist/apps/profile-orchestrator/src/api/write-openapi.js',
  minRefs: 10,
});

describe('orchestrator operator API', () => {
  it('has the routes of ISSUE6 contract B', () => {
    expect(controllerRoutes(CONTROLLERS, ApiAuthGuard)).toEqual(
      expect.arrayContaining([
        'post /v1/campaigns operator',
        'get /v1/campaigns viewer',
        'get /v1/campaigns/{campaignId} viewer',
        'post /v1/campaigns/{campaignId}/approve admin',
        'post /v1/campaigns/{campaignId}/pause operator',
        'post /v1/campaigns/{campaignId}/resume operator',
        'post /v1/campaigns/{campaignId}/stop operator',
        'post /v1/meters/{meterId}/swaps operator',
        'get /v1/meters/{meterId}/swaps viewer',
        'get /v1/meters/{meterId}/pending-packages viewer',
        'get /v1/audit admin',
        'get /openapi.json public',
      ]),
    );
  });
});
