import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RequestMethod } from '@nestjs/common';
import { GUARDS_METADATA, METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { ApiAuthGuard } from '@meterlink/service-kit';
import { CloseMonthController } from '../close-month/close-month.controller';
import { StatementsController } from '../statements/statements.controller';
import { OpenApiController } from './openapi.controller';
import { API_OPERATIONS, buildOpenApiDocument } from './openapi';

const CONTROLLERS = [StatementsController, CloseMonthController, OpenApiController];

/** Every route the controllers declare, with the least role the guard will ask for. */
function routes(): string[] {
  const found: string[] = [];
  for (const controller of CONTROLLERS) {
    const base = Reflect.getMetadata(PATH_METADATA, controller) as string;
    const guarded = (
      (Reflect.getMetadata(GUARDS_METADATA, controller) as unknown[] | undefined) ?? []
    ).includes(ApiAuthGuard);
    const proto = controller.prototype as unknown as Record<string, unknown>;
    for (const name of Object.getOwnPropertyNames(proto)) {
      const handler = proto[name];
      if (typeof handler !== 'function' || name === 'constructor') continue;
      const method = Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod | undefined;
      if (method === undefined) continue;
      const path = Reflect.getMetadata(PATH_METADATA, handler) as string;
      const full = `/${[base, path].filter((p) => p && p !== '/').join('/')}`.replace(
        /:(\w+)/g,
        '{$1}',
      );
      const role = guarded
        ? ((Reflect.getMetadata('meterlink:role', handler) as string | undefined) ?? 'admin')
        : 'public';
      found.push(`${RequestMethod[method].toLowerCase()} ${full} ${role}`);
    }
  }
  return found.sort();
}

describe('billing OpenAPI document', () => {
  const published = JSON.parse(
    readFileSync(join(__dirname, '..', '..', 'openapi.json'), 'utf8'),
  ) as Record<string, unknown>;

  it('is exactly what the code serves (after a change: npm run build && node dist/apps/billing/src/api/write-openapi.js)', () => {
    expect(published).toEqual(JSON.parse(JSON.stringify(buildOpenApiDocument())));
  });

  it('documents every route of the controllers with the role it needs, and no other', () => {
    expect(API_OPERATIONS.map((op) => `${op.method} ${op.path} ${op.role}`).sort()).toEqual(
      routes(),
    );
  });

  it('refers only to schemas it defines', () => {
    const text = JSON.stringify(published);
    const schemas = Object.keys(
      (published.components as { schemas: Record<string, unknown> }).schemas,
    );
    const refs = [...text.matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]);
    expect(refs.length).toBeGreaterThan(10);
    for (const ref of refs) expect(schemas).toContain(ref);
  });
});
