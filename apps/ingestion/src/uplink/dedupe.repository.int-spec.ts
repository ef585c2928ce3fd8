import { randomBytes } from 'node:crypto';
import { createRedis, type Redis } from '@meterlink/redis';
import { infraEnv } from '@meterlink/testing';
import { DEDUPE_WINDOW, DedupeRepository } from './dedupe.repository';

/** The (meterId, seq) window on a real Redis, with batch scripts and with one call per meter. */
describe.each([
  ['batch scripts', true],
  ['one call per meter (Redis Cluster)', false],
])('DedupeRepository, %s', (_mode, batchScripts) => {
  let redis: Redis;
  let dedupe: DedupeRepository;
  const meter = (): string => `DD-${randomBytes(4).toString('hex')}`;

  beforeAll(() => {
    redis = createRedis(infraEnv().REDIS_URL, 'int-dedupe');
    dedupe = new DedupeRepository(redis, batchScripts);
  });
  afterAll(async () => {
    await redis.quit();
  });

  it('sees a marked seq as a duplicate and an unmarked one as new, per meter', async () => {
    const [a, b] = [meter(), meter()];
    expect(
      await dedupe.checkMany([
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
      await dedupe.checkMany([
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
      await dedupe.checkMany([
        [a, 10 + 6],
        [a, 10],
      ]),
    ).toEqual(['new', 'too_old']);
    await dedupe.markMany([[a, 16]]);
    expect(
      await dedupe.checkMany([
        [a, 16],
        [a, 17],
      ]),
    ).toEqual(['duplicate', 'new']);
  });

  it('clears the bits a jump of the high-water mark passes over', async () => {
    const a = meter();
    await dedupe.markMany([[a, 3]]);
    // 3 + WINDOW reuses bit 3's slot: it must not look like a duplicate of seq 3.
    expect(await dedupe.checkMany([[a, 3 + DEDUPE_WINDOW]])).toEqual(['new']);
    await dedupe.markMany([[a, 3 + DEDUPE_WINDOW]]);
    expect(
      await dedupe.checkMany([
        [a, 3 + DEDUPE_WINDOW],
        [a, 4 + DEDUPE_WINDOW],
      ]),
    ).toEqual(['duplicate', 'new']);
  });
});
