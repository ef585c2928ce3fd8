import { join } from 'node:path';
import { writeOpenApiFile } from '@meterlink/service-kit';
import { buildOpenApiDocument } from './openapi';

/**
 * Rewrites apps/registry/openapi.json from the code (a dev-time script:
 * `node dist/apps/registry/src/api/write-openapi.js` after `npm run build`).
 */
writeOpenApiFile(
  join(__dirname, '..', '..', '..', '..', '..', 'apps', 'registry', 'openapi.json'),
  buildOpenApiDocument(),
);
