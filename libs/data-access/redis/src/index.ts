import Redis from 'ioredis';
import { createLogger } from '@meterlink/observability';

export type { Redis } from 'ioredis';

export function createRedis(url: string, name: string): Redis {
  const log = createLogger('redis');
  const client = new Redis(url, {
    connectionName: name,
    // Commands wait while Redis is away instead of failing at once; callers see TransientError-like
    // connection errors only after this many retries.
    maxRetriesPerRequest: 20,
    enableOfflineQueue: true,
    retryStrategy: (times) => Math.min(times * 100, 2_000),
  });
  client.on('error', (error) => log.warn({ err: error }, 'redis connection error'));
  return client;
}

export function redisHealth(client: Redis): { ok: boolean; detail?: string } {
  return client.status === 'ready' ? { ok: true } : { ok: false, detail: client.status };
}
