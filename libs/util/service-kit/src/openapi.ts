import { writeFileSync } from 'node:fs';
import { z } from 'zod';
import type { Role } from './operator-auth';

export type JsonObject = Record<string, unknown>;

/** A request or response body: a component name (a `$ref`), or an inline JSON Schema. */
export interface ApiBody<C extends string = string> {
  contentType: string;
  schema: C | JsonObject;
  description?: string;
}

export interface ApiOperation<C extends string = string> {
  method: 'get' | 'post' | 'put' | 'delete';
  /** OpenAPI path, `{param}` style. */
  path: string;
  operationId: string;
  tag: string;
  summary: string;
  description?: string;
  /** The least role; `public` needs no token. */
  role: Role | 'public';
  query?: z.ZodObject;
  body?: ApiBody<C>;
  /** Success status and what it returns (one body per content type). */
  ok: { status: number; description: string; body?: ApiBody<C> | ApiBody<C>[] };
  /** Error statuses this operation answers besides 400/401/403 (implied by query, body, role). */
  errors?: Record<number, string>;
}

export const jsonBody = <C extends string>(schema: C | JsonObject): ApiBody<C> => ({
  contentType: 'application/json',
  schema,
});

/** The operation that serves the document itself (public). */
export const openApiOperation = <C extends string>(path: string): ApiOperation<C> => ({
  method: 'get',
  path,
  operationId: 'getOpenApi',
  tag: 'meta',
  summary: 'This document',
  role: 'public',
  ok: { status: 200, description: 'OpenAPI 3.1', body: jsonBody<C>({ type: 'object' }) },
});

export interface OpenApiDocumentOptions<C extends string> {
  info: { title: string; version: string; description: string };
  serverUrl: string;
  tags: string[];
  /** The named schemas (components), `Error` among them. */
  components: Record<C, z.ZodType>;
  operations: ApiOperation<C>[];
  /** The schema of each path parameter by name; an unnamed one is a plain string. */
  pathParameters: Record<string, z.ZodType>;
  /** What a 403 says for a role (default: `needs admin`, `needs <role> or above`). */
  forbidden?: (role: Role) => string;
}

/** Without `$schema` and `$id`: the document's components and parameters need neither. */
const bare = (schema: JsonObject): JsonObject =>
  Object.fromEntries(Object.entries(schema).filter(([key]) => key !== '$schema' && key !== '$id'));

const inputSchema = (schema: z.ZodType): JsonObject =>
  bare(z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }));

function content(bodies: ApiBody | ApiBody[]): JsonObject {
  const entries = (Array.isArray(bodies) ? bodies : [bodies]).map((body) => [
    body.contentType,
    {
      schema:
        typeof body.schema === 'string'
          ? { $ref: `#/components/schemas/${body.schema}` }
          : body.schema,
    },
  ]);
  return Object.fromEntries(entries) as JsonObject;
}

const defaultForbidden = (role: Role): string =>
  role === 'admin' ? 'needs admin' : `needs ${role} or above`;

function operation(
  op: ApiOperation,
  pathSchemas: Record<string, z.ZodType>,
  forbidden: (role: Role) => string,
): JsonObject {
  const pathParameters = [...op.path.matchAll(/\{(\w+)\}/g)].map(([, name]) => ({
    name,
    in: 'path',
    required: true,
    schema: inputSchema(pathSchemas[name!] ?? z.string()),
  }));
  const queryParameters = Object.entries(op.query?.shape ?? {}).map(([name, field]) => {
    const schema = field as z.ZodType;
    return {
      name,
      in: 'query',
      required: !schema.safeParse(undefined).success,
      ...(schema.description ? { description: schema.description } : {}),
      schema: inputSchema(schema),
    };
  });
  const error = { content: content(jsonBody('Error')) };
  const responses: JsonObject = {
    [op.ok.status]: {
      description: op.ok.description,
      ...(op.ok.body ? { content: content(op.ok.body) } : {}),
    },
  };
  if (op.query || op.body || pathParameters.length > 0)
    responses['400'] = { description: 'the request does not parse (each problem named)', ...error };
  if (op.role !== 'public') {
    responses['401'] = { description: 'no valid bearer token', ...error };
    responses['403'] = { description: forbidden(op.role), ...error };
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
    ...(pathParameters.length + queryParameters.length > 0
      ? { parameters: [...pathParameters, ...queryParameters] }
      : {}),
    ...(op.body
      ? {
          requestBody: {
            required: true,
            ...(op.body.description ? { description: op.body.description } : {}),
            content: content(op.body),
          },
        }
      : {}),
    responses,
  };
}

/**
 * A service's OpenAPI 3.1 document, generated from its zod schemas and its operation list: every
 * operation says its least role (x-required-role) and the 400/401/403 it can answer.
 */
export function buildOpenApiDocument<C extends string>(
  options: OpenApiDocumentOptions<C>,
): JsonObject {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries<z.ZodType>(options.components))
    registry.add(schema, { id });
  const schemas = (
    z.toJSONSchema(registry, {
      io: 'output',
      unrepresentable: 'any',
      uri: (id) => `#/components/schemas/${id}`,
    }) as { schemas: Record<string, JsonObject> }
  ).schemas;
  const forbidden = options.forbidden ?? defaultForbidden;
  const paths: Record<string, JsonObject> = {};
  for (const op of options.operations)
    (paths[op.path] ??= {})[op.method] = operation(op, options.pathParameters, forbidden);
  return {
    openapi: '3.1.0',
    info: options.info,
    servers: [{ url: options.serverUrl }],
    tags: options.tags.map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: { bearerToken: { type: 'http', scheme: 'bearer' } },
      schemas: Object.fromEntries(Object.entries(schemas).map(([id, s]) => [id, bare(s)])),
    },
  };
}

/**
 * Rewrites a checked-in OpenAPI document, formatted as Prettier wants it (each service's dev-time
 * `write-openapi` script), and exits non-zero when that fails.
 */
export function writeOpenApiFile(target: string, document: JsonObject): void {
  const write = async (): Promise<void> => {
    const prettier = await import('prettier');
    const text = await prettier.format(JSON.stringify(document), {
      ...(await prettier.resolveConfig(target)),
      filepath: target,
    });
    writeFileSync(target, text);
    process.stdout.write(`wrote ${target}\n`);
  };
  write().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
