import { readFileSync } from 'node:fs';
import { RequestMethod, type Type } from '@nestjs/common';
import { GUARDS_METADATA, METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';

/**
 * Every route the controllers declare, as `method path role` with `{param}` paths and the least
 * role the guard (the service's ApiAuthGuard, given rather than imported so that this library
 * does not load NestJS's core) will ask for (`public` when the controller is not guarded), sorted.
 */
export function controllerRoutes(controllers: Type<unknown>[], guard: unknown): string[] {
  const found: string[] = [];
  for (const controller of controllers) {
    const base = Reflect.getMetadata(PATH_METADATA, controller) as string;
    const guarded = (
      (Reflect.getMetadata(GUARDS_METADATA, controller) as unknown[] | undefined) ?? []
    ).includes(guard);
    const proto = controller.prototype as Record<string, unknown>;
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

export interface OpenApiDocumentCheck {
  /** The checked-in document (apps/<service>/openapi.json). */
  file: string;
  /** What the service serves. */
  build: () => Record<string, unknown>;
  /** The operation list the document is built from. */
  operations: { method: string; path: string; role: string }[];
  controllers: Type<unknown>[];
  /** The guard that makes a controller's routes need a role (ApiAuthGuard). */
  guard: unknown;
  /** The command that rewrites `file`, named when it is stale. */
  regenerate: string;
  /** The least number of `$ref`s the document holds (so the ref check cannot pass empty). */
  minRefs: number;
}

/**
 * The unit tests every service with an operator API has: the checked-in document is exactly the
 * served one, every controller route is documented with the role its guard asks (and nothing
 * else is), and every `$ref` names a schema of the document.
 */
export function describeOpenApiDocument(title: string, check: OpenApiDocumentCheck): void {
  describe(title, () => {
    const published = JSON.parse(readFileSync(check.file, 'utf8')) as Record<string, unknown>;

    it(`is exactly what the code serves (after a change: ${check.regenerate})`, () => {
      expect(published).toEqual(JSON.parse(JSON.stringify(check.build())));
    });

    it('documents every route of the controllers with the role it needs, and no other', () => {
      expect(check.operations.map((op) => `${op.method} ${op.path} ${op.role}`).sort()).toEqual(
        controllerRoutes(check.controllers, check.guard),
      );
    });

    it('refers only to schemas it defines', () => {
      const text = JSON.stringify(published);
      const schemas = Object.keys(
        (published.components as { schemas: Record<string, unknown> }).schemas,
      );
      const refs = [...text.matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map(
        (m) => m[1],
      );
      expect(refs.length).toBeGreaterThan(check.minRefs);
      for (const ref of refs) expect(schemas).toContain(ref);
    });
  });
}
