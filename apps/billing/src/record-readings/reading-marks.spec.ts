import { ReadingColumns } from './reading-columns';
import { readingMarks } from './reading-marks';

const us = (iso: string): number => (Date.parse(iso) - Date.UTC(2000, 0, 1)) * 1000;

function columns(rows: [meterId: string, register: string, at: string, receivedAt: string][]) {
  const cols = new ReadingColumns();
  rows.forEach(([meterId, register, at, receivedAt], i) =>
    cols.add(
      { meterId, register, at, receivedAt, kind: 'electricity', value: i, seq: i } as never,
      String(i),
    ),
  );
  return cols;
}

describe('readingMarks', () => {
  it('orders rows meter by meter and marks each UTC month with its readings and late ones', () => {
    const cols = columns([
      ['M-1', 'energy_import_wh', '2026-11-10T00:00:00Z', '2026-11-10T00:00:01Z'],
      ['M-2', 'energy_import_wh', '2026-11-10T00:00:00Z', '2026-11-12T00:00:00Z'],
      ['M-1', 'energy_import_wh', '2026-11-10T00:15:00Z', '2026-11-11T00:15:00.001Z'],
      ['M-1', 'energy_export_wh', '2026-11-10T00:15:00Z', '2026-11-11T00:15:00Z'],
    ]);
    const { order, marks, boundaries } = readingMarks(cols);
    expect(Array.from(order)).toEqual([0, 2, 3, 1]);
    expect(marks).toEqual({
      meterId: ['M-1', 'M-1', 'M-2'],
      period: ['2026-11', '2026-11', '2026-11'],
      readings: [2, 1, 1],
      // More than a day after the interval: 1 ms more counts, exactly a day does not.
      late: [1, 0, 1],
    });
    // Both neighbours of each (meter, register, month), between the month's edges less 14 hours
    // and its first and last reading (the last exclusive: one microsecond after it).
    expect(boundaries.period).toEqual([
      '2026-10',
      '2026-12',
      '2026-10',
      '2026-12',
      '2026-10',
      '2026-12',
    ]);
    expect(boundaries.register.slice(0, 4)).toEqual([
      'energy_import_wh',
      'energy_import_wh',
      'energy_export_wh',
      'energy_export_wh',
    ]);
    expect(boundaries.loUs[0]).toBe(us('2026-11-01T14:00:00Z'));
    expect(boundaries.hiUs[0]).toBe(us('2026-11-10T00:00:00Z'));
    expect(boundaries.loUs[1]).toBe(us('2026-11-10T00:15:00Z') + 1);
    expect(boundaries.hiUs[1]).toBe(us('2026-11-30T10:00:00Z'));
  });

  it('marks the neighbouring month of a reading within 14 hours of a boundary', () => {
    const cols = columns([
      ['M-1', 'energy_import_wh', '2026-11-01T13:59:59.999Z', '2026-11-01T14:00:00Z'],
      ['M-1', 'energy_import_wh', '2026-11-30T10:00:00Z', '2026-11-30T10:00:00Z'],
      ['M-2', 'energy_import_wh', '2026-11-01T14:00:00Z', '2026-11-01T14:00:00Z'],
      ['M-3', 'volume_l', '2026-12-31T23:00:00Z', '2026-12-31T23:00:00Z'],
    ]);
    const { marks } = readingMarks(cols, 1);
    // From row 1 on: M-1's reading at 10:00 on the 30th reaches December; M-2's at 14:00 on the
    // 1st does not reach October; M-3's reaches the next year.
    expect(marks).toEqual({
      meterId: ['M-1', 'M-1', 'M-2', 'M-3', 'M-3'],
      period: ['2026-11', '2026-12', '2026-11', '2026-12', '2027-01'],
      readings: [1, 0, 1, 1, 0],
      late: [0, 0, 0, 0, 0],
    });
    expect(Array.from(readingMarks(cols).marks.period.slice(0, 3))).toEqual([
      '2026-11',
      '2026-10',
      '2026-12',
    ]);
  });
});
