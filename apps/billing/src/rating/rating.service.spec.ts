import { describeChanges, type DirtyRow } from './rating.service';

const dirty = (over: Partial<DirtyRow>): DirtyRow => ({
  meter_id: 'M-1',
  period: '2026-10',
  readings: 0,
  late_readings: 0,
  usage_records: 0,
  swap_changes: 0,
  fleet_changes: 0,
  boundary_changes: 0,
  ...over,
});

describe('describeChanges (the why of the audit trail)', () => {
  it('names late readings apart from the others', () => {
    expect(describeChanges(dirty({ readings: 5, late_readings: 3 }))).toBe(
      '5 new reading(s) (3 late: received more than a day after their interval)',
    );
  });

  it('lists every kind of change that made the month dirty', () => {
    expect(describeChanges(dirty({ boundary_changes: 1, usage_records: 2, swap_changes: 1 }))).toBe(
      'a new reading next to a month boundary, 2 usage record(s), 1 profile change(s)',
    );
  });
});
