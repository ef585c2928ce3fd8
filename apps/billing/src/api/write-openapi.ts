import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildOpenApiDocument } from './openapi';

/**
 * Rewrites apps/billing/openapi.json from the code, formatted as Prettier wants it (a dev-time
 * script: `node dist/apps/billing/src/api/write-openapi.js` after `npm run build`).
 */
async function write(): Promise<void> {
  const target = join(__dirname, '..', '..', '..', '..', '..', 'apps', 'billing', 'openapi.json');
  const prettier = await import('prettier');
  const text = await prettier.format(JSON.stringify(buildOpenApiDocument()), {
    ...(await prettier.resolveConfig(target)),
    filepath: target,
  });
  writeFileSync(target, text);
  process.stdout.write(`wrote ${target}\n`);
}

write().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
