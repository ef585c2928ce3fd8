import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { z } from 'zod';
import {
  ES2_PATHS,
  ES9_PATHS,
  SMDP_SIM_PATHS,
  cancelOrderRequestSchema,
  carrierIdSchema,
  confirmOrderRequestSchema,
  downloadOrderRequestSchema,
  es9DownloadProfileRequestSchema,
  smdpSimConfigSchema,
} from '@meterlink/contracts';
import type { Logger } from '@meterlink/observability';
import type { SmdpAnswer, SmdpSimulator } from './smdp-simulator';

/**
 * HTTP in front of the simulator: `/<carrierId>/gsma/rsp2/...` for ES2+ and ES9+,
 * `/<carrierId>/sim/...` for its knobs and counters, `/sim/stats` for every carrier.
 */

const MAX_BODY_BYTES = 64 * 1024;

export interface SmdpServerOptions {
  simulator: SmdpSimulator;
  port: number;
  host?: string;
  logger?: Logger;
}

export interface RunningSmdpServer {
  server: Server;
  port: number;
  /** `http://host:port`: a carrier's base URL is this plus `/<carrierId>`. */
  url: string;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export async function startSmdpServer(options: SmdpServerOptions): Promise<RunningSmdpServer> {
  const handler = createHandler(options.simulator, options.logger);
  const server = createServer((req, res) => {
    handler(req, res).catch((error: unknown) => {
      const http =
        error instanceof HttpError
          ? error
          : new HttpError(500, 'internal', error instanceof Error ? error.message : String(error));
      if (http.status === 500) options.logger?.error({ err: http.message }, 'request failed');
      send(res, http.status, { reason: http.reason, message: http.message });
    });
  });
  server.keepAliveTimeout = 30_000;
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

type Route = (carrierId: string, body: unknown) => SmdpAnswer | Promise<SmdpAnswer>;

function createHandler(
  simulator: SmdpSimulator,
  logger: Logger | undefined,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const parse = <S extends z.ZodType>(schema: S, body: unknown): z.infer<S> => {
    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new HttpError(
        400,
        'invalidRequest',
        `${issue?.path.join('.') || '(body)'}: ${issue?.message ?? 'invalid'}`,
      );
    }
    return parsed.data;
  };
  const protocol: Record<string, Route> = {
    [ES2_PATHS.downloadOrder]: (c, b) =>
      simulator.downloadOrder(c, parse(downloadOrderRequestSchema, b)),
    [ES2_PATHS.confirmOrder]: (c, b) =>
      simulator.confirmOrder(c, parse(confirmOrderRequestSchema, b)),
    [ES2_PATHS.cancelOrder]: (c, b) => simulator.cancelOrder(c, parse(cancelOrderRequestSchema, b)),
    [ES9_PATHS.downloadProfile]: (c, b) =>
      simulator.downloadProfile(c, parse(es9DownloadProfileRequestSchema, b)),
  };

  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://smdp');
    const segments = url.pathname.split('/').filter(Boolean);
    if (req.method === 'GET' && url.pathname === '/health') {
      send(res, 200, { status: 'ok' });
      return;
    }
    if (req.method === 'GET' && url.pathname === SMDP_SIM_PATHS.stats) {
      send(res, 200, simulator.allStats());
      return;
    }
    const [carrierId, ...rest] = segments;
    if (carrierId === undefined || !carrierIdSchema.safeParse(carrierId).success)
      throw new HttpError(404, 'notFound', `no such path ${url.pathname}`);
    const path = `/${rest.join('/')}`;

    const route = protocol[path];
    if (route) {
      if (req.method !== 'POST') throw new HttpError(405, 'methodNotAllowed', 'use POST');
      const body = await readJson(req);
      const latency = simulator.latencyMs(carrierId);
      if (latency > 0) await new Promise((resolve) => setTimeout(resolve, latency));
      const answer = await route(carrierId, body);
      logger?.debug({ carrierId, path, status: answer.status }, 'smdp call');
      send(res, answer.status, answer.body, answer.retryAfterS);
      return;
    }
    if (path === SMDP_SIM_PATHS.stats && req.method === 'GET') {
      send(res, 200, simulator.stats(carrierId));
      return;
    }
    if (path === SMDP_SIM_PATHS.config && req.method === 'GET') {
      send(res, 200, simulator.config(carrierId));
      return;
    }
    if (path === SMDP_SIM_PATHS.config && req.method === 'POST') {
      const config = simulator.configure(
        carrierId,
        parse(smdpSimConfigSchema, await readJson(req)),
      );
      logger?.info({ carrierId, config }, 'carrier configured');
      send(res, 200, config);
      return;
    }
    if (path === SMDP_SIM_PATHS.reset && req.method === 'POST') {
      simulator.reset(carrierId);
      send(res, 200, {});
      return;
    }
    throw new HttpError(404, 'notFound', `no such path ${url.pathname}`);
  };
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, 'tooLarge', 'body above 64 KiB');
    chunks.push(buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpError(400, 'invalidJson', 'body is not JSON');
  }
}

function send(res: ServerResponse, status: number, body: object, retryAfterS?: number): void {
  if (res.headersSent) return;
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(payload),
    ...(retryAfterS !== undefined ? { 'retry-after': String(retryAfterS) } : {}),
  });
  res.end(payload);
}
