import { CampaignPolicyError } from './campaign-policy.error';

/** How a campaign's meters are cut into waves: a canary, then waves growing by a factor up to a cap. */
export interface WavePlanConfig {
  /** Meters in the first wave (clamped to `maxWaveSize`). */
  canarySize: number;
  /** Each wave's nominal size is the canary's times this to the wave's index (≥ 1). */
  growthFactor: number;
  /** No wave is larger than this. */
  maxWaveSize: number;
}

/** Reasoning in the library's README. */
export const DEFAULT_WAVE_PLAN: WavePlanConfig = {
  canarySize: 10,
  growthFactor: 2,
  maxWaveSize: 1000,
};

const isPositiveInt = (n: number): boolean => Number.isSafeInteger(n) && n >= 1;

/** Throws `invalid_wave_config` unless the config can plan waves. */
export function assertWaveConfig(config: WavePlanConfig): void {
  if (!isPositiveInt(config.canarySize))
    throw new CampaignPolicyError('invalid_wave_config', 'canarySize must be an integer ≥ 1');
  if (!Number.isFinite(config.growthFactor) || config.growthFactor < 1)
    throw new CampaignPolicyError('invalid_wave_config', 'growthFactor must be a number ≥ 1');
  if (!isPositiveInt(config.maxWaveSize))
    throw new CampaignPolicyError('invalid_wave_config', 'maxWaveSize must be an integer ≥ 1');
}

/** The API's optional `waves` object over the defaults, validated. */
export function resolveWavePlan(
  partial: Partial<WavePlanConfig> = {},
  defaults: WavePlanConfig = DEFAULT_WAVE_PLAN,
): WavePlanConfig {
  const config: WavePlanConfig = {
    canarySize: partial.canarySize ?? defaults.canarySize,
    growthFactor: partial.growthFactor ?? defaults.growthFactor,
    maxWaveSize: partial.maxWaveSize ?? defaults.maxWaveSize,
  };
  assertWaveConfig(config);
  return config;
}

/** Nominal size of wave `index` (0 = canary): ceil(canary × growth^index), capped. */
export function nominalWaveSize(index: number, config: WavePlanConfig): number {
  assertWaveConfig(config);
  if (!Number.isSafeInteger(index) || index < 0)
    throw new CampaignPolicyError('invalid_wave_config', 'wave index must be an integer ≥ 0');
  const canary = Math.min(config.canarySize, config.maxWaveSize);
  const raw = canary * Math.pow(config.growthFactor, index);
  // 100 × 1.1 is 110.00000000000001 in floating point: don't let that round up to 111.
  const size = Math.ceil(raw - 1e-9);
  return Number.isFinite(size)
    ? Math.min(config.maxWaveSize, Math.max(canary, size))
    : config.maxWaveSize;
}

/** Size of wave `index` when `remaining` meters have not been put in a wave yet. */
export function waveSizeAt(index: number, remaining: number, config: WavePlanConfig): number {
  if (!Number.isSafeInteger(remaining) || remaining < 0)
    throw new CampaignPolicyError('invalid_meter_count', 'remaining must be an integer ≥ 0');
  return Math.min(remaining, nominalWaveSize(index, config));
}

/** Every wave's size for `meterCount` meters, in order; they sum to `meterCount`. */
export function planWaves(
  meterCount: number,
  config: WavePlanConfig = DEFAULT_WAVE_PLAN,
): number[] {
  if (!Number.isSafeInteger(meterCount) || meterCount < 0)
    throw new CampaignPolicyError('invalid_meter_count', 'meterCount must be an integer ≥ 0');
  assertWaveConfig(config);
  const sizes: number[] = [];
  let remaining = meterCount;
  while (remaining > 0) {
    const size = waveSizeAt(sizes.length, remaining, config);
    sizes.push(size);
    remaining -= size;
  }
  return sizes;
}
