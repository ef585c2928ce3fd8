import { randomBytes } from 'node:crypto';
import { createRedis, type Redis } from '@meterlink/redis';
import { eventually, infraEnv } from '@meterlink/testing';
import { DEDUPE_WINDOW, DedupeRepository } from './dedupe.repository';

/**
 * The (meterId, seq) window and the claims of replicas writing a seq, on a real Redis, with batch
 * scripts and with one call per meter.
 */
describe.each([
  ['batch scripts', true],
  ['one call per meter (Redis Cluster)', false],
])('DedupeRepository, %s', (_mode, batchScripts) => {
  let redis: Redis;
  let dedupe: DedupeRepository;
  let other: DedupeRepository;
  const meter = (): string => `DD-${randomBytes(4).toString('hex')}`;

  beforeAll(() => {
    redis = createRedis(infraEnv().REDIS_URL, 'int-dedupe');
    dedupe = new DedupeRepository(redis, 'replica-a', 30_000, batchScripts);
    other = new DedupeRepository(redis, 'replica-b', 30_000, batchScripts);
  });
  afterAll(async () => {
    await redis.quit();
  });

  it('sees a marked seq as a duplicate and an unmarked one as new, per meter', async () => {
    const [a, b] = [meter(), meter()];
    expect(
      await dedupe.claimMany([
        [a, 5],
        [a, 6],
        [b, 5],
      ]),
    ).toEqual(['new', 'new', 'new']);
    await dedupe.markMany([
      [a, 5],
      [a, 6],
    ]);
    expect(
      await dedupe.claimMany([
        [a, 5],
        [a, 6],
        [a, 4],
        [b, 5],
      ]),
    ).toEqual(['duplicate', 'duplicate', 'new', 'new']);
  });

  it('accepts a late seq inside the window once, and calls one below the window too old', async () => {
    const a = meter();
    await dedupe.markMany([[a, 10]]);
    await dedupe.markMany([[a, 10 + DEDUPE_WINDOW + 5]]);
    expect(
      await dedupe.claimMany([
        [a, 10 + 6],
        [a, 10],
      ]),
    ).toEqual(['new', 'too_old']);
    await dedupe.markMany([[a, 16]]);
    expect(
      await dedupe.claimMany([
        [a, 16],
        [a, 17],
      ]),
    ).toEqual(['duplicate', 'new']);
  });

  it('clears the bits a jump of the high-water mark passes over', async () => {
    const a = meter();
    await dedupe.markMany([[a, 3]]);
    // 3 + WINDOW reuses bit 3's slot: it must not look like a duplicate of seq 3.
    expect(await dedupe.claimMany([[a, 3 + DEDUPE_WINDOW]])).toEqual(['new']);
    await dedupe.markMany([[a, 3 + DEDUPE_WINDOW]]);
    expect(
      await dedupe.claimMany([
        [a, 3 + DEDUPE_WINDOW],
        [a, 4 + DEDUPE_WINDOW],
      ]),
    ).toEqual(['duplicate', 'new']);
  });

  it('lets one replica claim a seq at a time, its own claim again, and nobody once it is marked', async () => {
    const a = meter();
    expect(await dedupe.claimMany([[a, 1]])).toEqual(['new']);
    // Another replica handed a copy meanwhile must not write it too.
    expect(
      await other.claimMany([
        [a, 1],
        [a, 2],
      ]),
    ).toEqual(['claimed', 'new']);
    // The claimer retrying (Kafka was away) still owns it; so does a restart with the same id.
    expect(
      await dedupe.claimMany([
        [a, 1],
        [a, 2],
      ]),
    ).toEqual(['new', 'claimed']);
    await dedupe.markMany([[a, 1]]);
    expect(await other.claimMany([[a, 1]])).toEqual(['duplicate']);
    expect(await redis.exists(`dd:{${a}}:cl:1`)).toBe(0);
  });

  it('lets a claim lapse after its lease unless renewed, so a dead replica holds nothing up', async () => {
    const a = meter();
    const shortA = new DedupeRepository(redis, 'replica-a', 1_000, batchScripts);
    const longB = new DedupeRepository(redis, 'replica-b', 60_000, batchScripts);
    expect(
      await shortA.claimMany([
        [a, 1],
        [a, 2],
      ]),
    ).toEqual(['new', 'new']);
    await shortA.renewMany([[a, 1]]);
    // Renewal by another owner (with a longer lease) must not extend the claim.
    await longB.renewMany([[a, 2]]);
    const ttl1 = await redis.pttl(`dd:{${a}}:cl:1`);
    const ttl2 = await redis.pttl(`dd:{${a}}:cl:2`);
    expect(ttl1).toBeGreaterThan(0);
    expect(ttl1).toBeLessThanOrEqual(1_000);
    expect(ttl2).toBeLessThanOrEqual(1_000);
    await eventually(async () => (await redis.exists(`dd:{${a}}:cl:2`)) === 0, {
      timeoutMs: 3_000,
      what: 'the unrenewed claim to lapse',
    });
    expect(await longB.claimMany([[a, 2]])).toEqual(['new']);
    expect(await redis.get(`dd:{${a}}:cl:2`)).toBe('replica-b');
  });
});
