import type { Redis } from '@meterlink/redis';

export interface RedisMemory {
  usedMemory: number;
  keys: number;
}

export async function redisMemory(redis: Redis): Promise<RedisMemory> {
  const info = await redis.info('memory');
  return {
    usedMemory: Number(/used_memory:(\d+)/.exec(info)?.[1] ?? NaN),
    keys: await redis.dbsize(),
  };
}

export interface KeyAccounting {
  /** Bytes by kind of coverage key (MEMORY USAGE, exact: SAMPLES 0). */
  bytes: Record<string, number>;
  keys: Record<string, number>;
  /** Bucket hashes still in the compact listpack encoding, out of all buckets. */
  listpackBuckets: number;
  buckets: number;
}

const kindOf = (key: string): string => {
  const m = /^cov:\{c\d+\}:([a-z]+)/.exec(key);
  if (m) return { b: 'state buckets', w: 'deadline wheel', due: 'deadline wheel' }[m[1]!] ?? `shard ${m[1]}`;
  return key.startsWith('cov:alive:') ? 'global' : `global ${key.split(':')[1] ?? key}`;
};

/** Walks every cov:* key and adds up what Redis says each one costs. */
export async function accountCoverageKeys(redis: Redis): Promise<KeyAccounting> {
  const result: KeyAccounting = { bytes: {}, keys: {}, listpackBuckets: 0, buckets: 0 };
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', 'cov:*', 'COUNT', 2_000);
    cursor = next;
    if (keys.length === 0) continue;
    const pipeline = redis.pipeline();
    for (const key of keys) {
      pipeline.memory('USAGE', key, 'SAMPLES', 0);
      pipeline.object('ENCODING', key);
    }
    const replies = (await pipeline.exec()) ?? [];
    keys.forEach((key, i) => {
      const kind = kindOf(key);
      const bytes = Number(replies[2 * i]?.[1] ?? 0);
      result.bytes[kind] = (result.bytes[kind] ?? 0) + bytes;
      result.keys[kind] = (result.keys[kind] ?? 0) + 1;
      if (kind === 'state buckets') {
        result.buckets++;
        if (replies[2 * i + 1]?.[1] === 'listpack') result.listpackBuckets++;
      }
    });
  } while (cursor !== '0');
  return result;
}

export async function deleteCoverageKeys(redis: Redis): Promise<number> {
  let deleted = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', 'cov:*', 'COUNT', 5_000);
    cursor = next;
    if (keys.length > 0) deleted += await redis.unlink(...keys);
  } while (cursor !== '0');
  return deleted;
}
