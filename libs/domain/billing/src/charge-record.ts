import { stableEventId, type BillingChargeRecord } from '@meterlink/contracts';
import type { ChargeLine } from './charge-line';

/**
 * The billing.charges.v1 record of a line, rated at `at` (ISO time, given: rating reads no clock).
 * The eventId is derived from the line's content, so publishing the same line again (a replay, a
 * retry) repeats its eventId and a consumer drops it, while a correction (other amount, quantity
 * or flags under the same chargeId) gets a new one.
 */
export function toChargeRecord(
  line: ChargeLine,
  at: string,
  correlationId?: string,
): BillingChargeRecord {
  return {
    eventId: stableEventId(
      'billing.charges.v1',
      line.chargeId,
      line.quantityExact,
      line.unit,
      line.amountExactMinor,
      line.currency,
      line.flags.join(','),
    ),
    type: line.type,
    at,
    ...(correlationId === undefined ? {} : { correlationId }),
    chargeId: line.chargeId,
    period: line.period,
    quantity: line.quantity,
    unit: line.unit,
    amountMinor: line.amountMinor,
    currency: line.currency,
    meterId: line.meterId,
    ...(line.carrierId === undefined ? {} : { carrierId: line.carrierId }),
    ...(line.customerId === undefined ? {} : { customerId: line.customerId }),
    estimated: line.estimated,
  };
}
