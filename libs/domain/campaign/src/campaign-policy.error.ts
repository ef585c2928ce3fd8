/** Stable codes for bad inputs to the campaign policy (the API maps them to 400s). */
export type CampaignPolicyErrorCode =
  'invalid_meter_count' | 'invalid_wave_config' | 'invalid_gate_config' | 'invalid_rate_limit';

export class CampaignPolicyError extends Error {
  constructor(
    readonly code: CampaignPolicyErrorCode,
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = 'CampaignPolicyError';
  }
}
