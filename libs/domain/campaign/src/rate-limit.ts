import { CampaignPolicyError } from './campaign-policy.error';

/** A carrier's SM-DP+ capacity, as a token bucket. */
export interface RateLimitConfig {
  /** Tokens (download orders) refilled per minute. */
  perMinute: number;
  /** Most tokens the bucket holds: how many may go at once after a quiet spell. */
  burst: number;
}

/**
 * Burst defaults to ten seconds' worth: a bucket allows `burst + perMinute` in any one minute,
 * so a full-minute burst could double an SM-DP+'s stated capacity.
 */
export function rateLimit(perMinute: number, burst?: number): RateLimitConfig {
  const config = { perMinute, burst: burst ?? Math.max(1, Math.ceil(perMinute / 6)) };
  assertRateLimit(config);
  return config;
}

export function assertRateLimit(config: RateLimitConfig): void {
  if (!Number.isFinite(config.perMinute) || config.perMinute < 0)
    throw new CampaignPolicyError('invalid_rate_limit', 'perMinute must be a number ≥ 0');
  if (!Number.isSafeInteger(config.burst) || config.burst < 1)
    throw new CampaignPolicyError('invalid_rate_limit', 'burst must be an integer ≥ 1');
}

export interface TokenBucket {
  tokens: number;
  /** epoch ms of the last refill. */
  updatedAt: number;
}

export interface TakeResult {
  /** Tokens granted now (0..wanted). */
  granted: number;
  bucket: TokenBucket;
  /** When the next token will be there (epoch ms), when fewer than wanted were granted; null if never. */
  nextTokenAt: number | null;
}

/** A bucket seen for the first time starts full. */
export function fullBucket(config: RateLimitConfig, now: number): TokenBucket {
  return { tokens: config.burst, updatedAt: now };
}

/** Refills up to `now`. A clock that went back refills nothing and keeps the later time. */
export function refill(bucket: TokenBucket, now: number, config: RateLimitConfig): TokenBucket {
  if (now <= bucket.updatedAt) return bucket;
  const tokens = Math.min(
    config.burst,
    bucket.tokens + ((now - bucket.updatedAt) * config.perMinute) / 60_000,
  );
  return { tokens, updatedAt: now };
}

/** Takes up to `wanted` whole tokens at `now`. */
export function takeTokens(
  bucket: TokenBucket | undefined,
  wanted: number,
  now: number,
  config: RateLimitConfig,
): TakeResult {
  assertRateLimit(config);
  if (!Number.isSafeInteger(wanted) || wanted < 0)
    throw new CampaignPolicyError('invalid_rate_limit', 'wanted must be an integer ≥ 0');
  const current = refill(bucket ?? fullBucket(config, now), now, config);
  // Float refills may leave 0.9999999 where 1 was meant: count a token within 1e-9 as whole.
  const whole = Math.floor(current.tokens + 1e-9);
  const granted = Math.min(wanted, whole);
  const next: TokenBucket = {
    tokens: Math.max(0, current.tokens - granted),
    updatedAt: current.updatedAt,
  };
  if (granted === wanted) return { granted, bucket: next, nextTokenAt: null };
  const missing = 1 - (next.tokens - Math.floor(next.tokens + 1e-9));
  return {
    granted,
    bucket: next,
    nextTokenAt:
      config.perMinute > 0
        ? next.updatedAt + Math.ceil((missing * 60_000) / config.perMinute)
        : null,
  };
}

/** Per-carrier buckets, by carrierId (the orchestrator keeps them, e.g. in its database row per carrier). */
export type CarrierBuckets = Readonly<Record<string, TokenBucket>>;

export interface AcquireResult extends TakeResult {
  buckets: CarrierBuckets;
}

/** Takes up to `wanted` tokens from `carrierId`'s bucket; other carriers' buckets are untouched. */
export function acquireForCarrier(
  buckets: CarrierBuckets,
  carrierId: string,
  wanted: number,
  now: number,
  config: RateLimitConfig,
): AcquireResult {
  const result = takeTokens(buckets[carrierId], wanted, now, config);
  return { ...result, buckets: { ...buckets, [carrierId]: result.bucket } };
}
