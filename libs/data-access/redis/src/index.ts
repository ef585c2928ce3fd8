import Redis from 'ioredis';
import { createLogger } from '@meterlink/observability';

export type { Redis } from 'ioredis';

export interface RedisOptions {
  /** Sends every command issued in one event-loop tick as one pipeline: for hot paths. */
  autoPipelining?: boolean;
}

export function createRedis(url: string, name: string, options: RedisOptions = {}): Redis {
  const log = createLogger('redis');
  const client = new Redis(url, {
    connectionName: name,
    // Commands wait while Redis is away instead of failing at once; callers see TransientError-like
    // connection errors only after this many retries.
    maxRetriesPerRequest: 20,
    enableOfflineQueue: true,
    retryStrategy: (times) => Math.min(times * 100, 2_000),
    enableAutoPipelining: options.autoPipelining ?? false,
  });
  client.on('error', (error) => log.warn({ err: error }, 'redis connection error'));
  return client;
}

export function redisHealth(client: Redis): { ok: boolean; detail?: string } {
  return client.status === 'ready' ? { ok: true } : { ok: false, detail: client.status };
}
