/** Why rating refused its input; transports map each code in one switch. */
export type BillingErrorCode =
  | 'invalid_period'
  | 'invalid_tariff'
  | 'unknown_time_zone'
  | 'invalid_amount'
  | 'amount_overflow'
  | 'invalid_input';

export class BillingError extends Error {
  constructor(
    readonly code: BillingErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'BillingError';
  }
}
