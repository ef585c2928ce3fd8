import { join } from 'node:path';
import { ApiAuthGuard } from '@meterlink/service-kit';
import { describeOpenApiDocument } from '@meterlink/testing';
import { CloseMonthController } from '../close-month/close-month.controller';
import { StatementsController } from '../statements/statements.controller';
import { OpenApiController } from './openapi.controller';
import { API_OPERATIONS, buildOpenApiDocument } from './openapi';

describeOpenApiDocument('billing OpenAPI document', {
  file: join(__dirname, '..', '..', 'openapi.json'),
  build: buildOpenApiDocument,
  operations: API_OPERATIONS,
  controllers: [StatementsController, CloseMonthController, OpenApiController],
  guard: ApiAuthGuard,
  regenerate: 'npm run build && node dist/apps/billing/src/api/write-openapi.js',
  minRefs: 10,
});
