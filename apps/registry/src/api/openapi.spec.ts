import { join } from 'node:path';
import { ApiAuthGuard } from '@meterlink/service-kit';
import { describeOpenApiDocument } from '@meterlink/testing';
import { ImportController } from '../import-manifest/import-manifest.controller';
import { MetersController } from '../meters/meters.controller';
import {
  DeviceCertificatesController,
  PkiController,
} from '../device-certificates/device-certificates.controller';
import { CatalogueController } from '../catalogue/catalogue.controller';
import { ImportsController } from '../imports/imports.controller';
import { AuditController } from '../audit/audit.controller';
import { OpenApiController } from './openapi.controller';
import { API_OPERATIONS, buildOpenApiDocument } from './openapi';

describeOpenApiDocument('OpenAPI document', {
  file: join(__dirname, '..', '..', 'openapi.json'),
  build: buildOpenApiDocument,
  operations: API_OPERATIONS,
  controllers: [
    ImportController,
    MetersController,
    DeviceCertificatesController,
    PkiController,
    CatalogueController,
    ImportsController,
    AuditController,
    OpenApiController,
  ],
  guard: ApiAuthGuard,
  regenerate: 'npm run build && node dist/apps/registry/src/api/write-openapi.js',
  minRefs: 20,
});
