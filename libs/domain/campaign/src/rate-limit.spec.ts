import {
  acquireForCarrier,
  fullBucket,
  rateLimit,
  takeTokens,
  type CarrierBuckets,
  type RateLimitConfig,
  type TokenBucket,
} from './rate-limit';
import { seeded } from '@meterlink/testing';

const T0 = 1_700_000_000_000;
const PER_SECOND: RateLimitConfig = { perMinute: 60, burst: 10 };

describe('SM-DP+ rate limit (token bucket)', () => {
  it.each<[number, number | undefined, RateLimitConfig]>([
    [60, undefined, { perMinute: 60, burst: 10 }],
    [600, undefined, { perMinute: 600, burst: 100 }],
    [1, undefined, { perMinute: 1, burst: 1 }],
    [0, undefined, { perMinute: 0, burst: 1 }],
    [600, 5, { perMinute: 600, burst: 5 }],
  ])('rateLimit(%s, %s): burst defaults to ten seconds’ worth', (perMinute, burst, expected) => {
    expect(rateLimit(perMinute, burst)).toEqual(expected);
  });

  it('a carrier seen for the first time has a full bucket', () => {
    expect(takeTokens(undefined, 3, T0, PER_SECOND)).toEqual({
      granted: 3,
      bucket: { tokens: 7, updatedAt: T0 },
      nextTokenAt: null,
    });
  });

  it('grants no more than the bucket holds and says when the next token comes', () => {
    expect(takeTokens(undefined, 15, T0, PER_SECOND)).toEqual({
      granted: 10,
      bucket: { tokens: 0, updatedAt: T0 },
      nextTokenAt: T0 + 1000,
    });
  });

  it('refills with time: 2.5 s at one a second gives two whole tokens, the half waits', () => {
    const empty: TokenBucket = { tokens: 0, updatedAt: T0 };
    const r = takeTokens(empty, 5, T0 + 2500, PER_SECOND);
    expect(r.granted).toBe(2);
    expect(r.bucket.tokens).toBeCloseTo(0.5, 9);
    expect(r.nextTokenAt).toBe(T0 + 3000);
  });

  it('asking exactly at nextTokenAt gets a token', () => {
    let bucket: TokenBucket = { tokens: 0.3, updatedAt: T0 };
    const first = takeTokens(bucket, 1, T0, PER_SECOND);
    expect(first.granted).toBe(0);
    bucket = first.bucket;
    expect(takeTokens(bucket, 1, first.nextTokenAt ?? 0, PER_SECOND).granted).toBe(1);
    expect(takeTokens(bucket, 1, (first.nextTokenAt ?? 0) - 1, PER_SECOND).granted).toBe(0);
  });

  it('never holds more than the burst, however long the quiet spell', () => {
    expect(
      takeTokens({ tokens: 0, updatedAt: T0 }, 1000, T0 + 86_400_000, PER_SECOND).granted,
    ).toBe(10);
  });

  it('a clock that goes back refills nothing and keeps the later time', () => {
    const r = takeTokens({ tokens: 2, updatedAt: T0 + 10_000 }, 5, T0, PER_SECOND);
    expect(r.granted).toBe(2);
    expect(r.bucket.updatedAt).toBe(T0 + 10_000);
    expect(r.nextTokenAt).toBe(T0 + 11_000);
  });

  it('a carrier with no capacity grants its burst once, then never again', () => {
    const zero: RateLimitConfig = { perMinute: 0, burst: 1 };
    const first = takeTokens(undefined, 2, T0, zero);
    expect(first).toMatchObject({ granted: 1, nextTokenAt: null });
    expect(takeTokens(first.bucket, 1, T0 + 3_600_000, zero)).toMatchObject({
      granted: 0,
      nextTokenAt: null,
    });
  });

  it('wanting nothing takes nothing', () => {
    expect(takeTokens({ tokens: 4, updatedAt: T0 }, 0, T0, PER_SECOND)).toEqual({
      granted: 0,
      bucket: { tokens: 4, updatedAt: T0 },
      nextTokenAt: null,
    });
  });

  it.each<[string, number, RateLimitConfig]>([
    ['a negative want', -1, PER_SECOND],
    ['a fractional want', 1.5, PER_SECOND],
    ['a negative rate', 1, { perMinute: -1, burst: 1 }],
    ['a zero burst', 1, { perMinute: 60, burst: 0 }],
    ['a NaN rate', 1, { perMinute: Number.NaN, burst: 1 }],
  ])('refuses %s with invalid_rate_limit', (_name, wanted, config) => {
    expect(() => takeTokens(undefined, wanted, T0, config)).toThrow('invalid_rate_limit');
  });

  it('keeps one bucket per carrier: one carrier’s load leaves the others alone', () => {
    let buckets: CarrierBuckets = {};
    const b = acquireForCarrier(buckets, 'carrier-b', 10, T0, PER_SECOND);
    buckets = b.buckets;
    expect(b.granted).toBe(10);
    expect(acquireForCarrier(buckets, 'carrier-b', 1, T0, PER_SECOND).granted).toBe(0);
    const c = acquireForCarrier(buckets, 'carrier-c', 4, T0, PER_SECOND);
    expect(c.granted).toBe(4);
    expect(c.buckets['carrier-b']).toEqual(buckets['carrier-b']);
    expect(buckets['carrier-c']).toBeUndefined(); // the input is not modified
  });

  it('properties: never more than burst + rate × time, and the bucket stays within 0..burst', () => {
    const violations: string[] = [];
    for (let seed = 1; seed <= 300; seed++) {
      const r = seeded(seed);
      const config = rateLimit(r.int(1, 1200), r.chance(0.5) ? r.int(1, 50) : undefined);
      let bucket: TokenBucket = fullBucket(config, T0);
      let now = T0;
      const grants: [number, number][] = [];
      for (let i = 0; i < 300; i++) {
        now += r.int(0, 5000);
        const result = takeTokens(bucket, r.int(0, 40), now, config);
        bucket = result.bucket;
        if (result.granted > 0) grants.push([now, result.granted]);
        if (bucket.tokens < 0 || bucket.tokens > config.burst)
          violations.push(`seed ${seed}: ${bucket.tokens} tokens`);
      }
      // Any window [start, end] holds at most burst + rate × its length.
      for (let a = 0; a < grants.length; a += 5) {
        const [start] = grants[a] ?? [0];
        let total = 0;
        for (let b = a; b < grants.length; b++) {
          const [end, granted] = grants[b] ?? [0, 0];
          total += granted;
          if (total > config.burst + (config.perMinute * (end - start)) / 60_000 + 1e-6)
            violations.push(`seed ${seed}: ${total} granted in [${start}, ${end}]`);
        }
      }
    }
    expect(violations).toEqual([]);
  });

  it('under constant demand, one hour delivers the hourly capacity plus the burst', () => {
    const config = rateLimit(120);
    let bucket: TokenBucket | undefined;
    let granted = 0;
    for (let t = 0; t <= 3_600_000; t += 250) {
      const r = takeTokens(bucket, 100, T0 + t, config);
      bucket = r.bucket;
      granted += r.granted;
    }
    expect(granted).toBe(120 * 60 + config.burst);
  });
});
