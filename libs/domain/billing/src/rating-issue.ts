/**
 * Something rating could not charge and did not guess at; the line concerned is left out (or
 * flagged) and the issue is returned so the service counts or reports it, never drops it.
 */
export type RatingIssueCode =
  /** A carrier on the timeline, usage or operations has no tariff in the catalogue. */
  | 'unknown_carrier_tariff'
  /** Usage reported on an ICCID that is not on the meter's inventory (carrierId null). */
  | 'unattributed_usage'
  /** A register the meter reports that the tariff does not bill. */
  | 'register_not_billed'
  /** No reading of a billed register in or around the period: nothing to bill. */
  | 'no_readings'
  /** Two readings of one register at the same instant with different values: the first is kept. */
  | 'conflicting_readings';

export interface RatingIssue {
  readonly code: RatingIssueCode;
  readonly detail: string;
  readonly carrierId?: string;
  readonly register?: string;
}
