import { PG_EPOCH_MS, type ReadingColumns } from './reading-columns';

const HOUR_US = 3_600_000_000;
/** No zone is further than 14 hours from UTC (see record-readings.consumer.ts). */
const ZONE_SLACK_US = 14 * HOUR_US;
/** A reading received more than a day after its interval is late. */
const DAY_US = 24 * HOUR_US;

/** (meter, register, UTC month) of a batch: its readings' first and last instant, counts. */
interface Group {
  register: string;
  month: number;
  minUs: number;
  maxUs: number;
  n: number;
  late: number;
}

/**
 * The dirty-month marks of a batch that was stored whole (every reading inserted), computed here
 * instead of from the INSERT's RETURNING rows: the same marks as the statement's CTEs
 * (STORE_READINGS_SQL), from each (meter, register, UTC month)'s first and last reading.
 *
 * - `marks`: the UTC month of each group with its readings and late readings, and the month 14
 *   hours before its first (after its last) reading when that is another month (zone slack);
 * - `boundaries`: the neighbouring month, to be marked only if it was already rated and no stored
 *   reading of the meter's register lies in [lo, hi) (between the month's start plus the slack
 *   and the group's first reading; between its last reading and the next month's start less the
 *   slack): the group's first (last) reading then became the month's first (last).
 *
 * `order` lists the rows meter by meter (consecutive primary-key inserts stay on one leaf).
 */
export interface ReadingMarks {
  order: Uint32Array;
  marks: { meterId: string[]; period: string[]; readings: number[]; late: number[] };
  boundaries: {
    meterId: string[];
    register: string[];
    period: string[];
    loUs: number[];
    hiUs: number[];
  };
}

/** A month as year * 12 + month (0-based) and back. */
const monthStartUs = (month: number): number =>
  (Date.UTC(Math.floor(month / 12), month % 12, 1) - PG_EPOCH_MS) * 1000;
const period = (month: number): string =>
  `${Math.floor(month / 12)}-${String((month % 12) + 1).padStart(2, '0')}`;

/** UTC month of an instant in microseconds; consecutive rows mostly share it (cached window). */
class MonthOf {
  private lo = Infinity;
  private hi = -Infinity;
  private month = 0;
  of(us: number): number {
    if (us >= this.lo && us < this.hi) return this.month;
    const d = new Date(us / 1000 + PG_EPOCH_MS);
    this.month = d.getUTCFullYear() * 12 + d.getUTCMonth();
    this.lo = monthStartUs(this.month);
    this.hi = monthStartUs(this.month + 1);
    return this.month;
  }
}

/** Requires every instant in cols to be exact (no `inexact` row). */
export function readingMarks(cols: ReadingColumns, from = 0): ReadingMarks {
  const byMeter = new Map<string, { rows: number[]; groups: Group[] }>();
  const months = new MonthOf();
  for (let i = from; i < cols.n; i++) {
    const id = cols.meterId[i]!;
    let meter = byMeter.get(id);
    if (!meter) byMeter.set(id, (meter = { rows: [], groups: [] }));
    meter.rows.push(i);
    const register = cols.register[i]!;
    const at = cols.atUs[i]!;
    const month = months.of(at);
    const late = cols.receivedUs[i]! - at > DAY_US ? 1 : 0;
    let g: Group | undefined;
    for (const c of meter.groups)
      if (c.month === month && c.register === register) {
        g = c;
        break;
      }
    if (!g) meter.groups.push({ register, month, minUs: at, maxUs: at, n: 1, late });
    else {
      if (at < g.minUs) g.minUs = at;
      if (at > g.maxUs) g.maxUs = at;
      g.n++;
      g.late += late;
    }
  }
  const order = new Uint32Array(cols.n - from);
  const marks: ReadingMarks['marks'] = { meterId: [], period: [], readings: [], late: [] };
  const boundaries: ReadingMarks['boundaries'] = {
    meterId: [],
    register: [],
    period: [],
    loUs: [],
    hiUs: [],
  };
  const mark = (meterId: string, month: number, readings: number, late: number): void => {
    marks.meterId.push(meterId);
    marks.period.push(period(month));
    marks.readings.push(readings);
    marks.late.push(late);
  };
  const boundary = (meterId: string, g: Group, month: number, lo: number, hi: number): void => {
    boundaries.meterId.push(meterId);
    boundaries.register.push(g.register);
    boundaries.period.push(period(month));
    boundaries.loUs.push(lo);
    boundaries.hiUs.push(hi);
  };
  let k = 0;
  for (const [meterId, meter] of byMeter) {
    for (const i of meter.rows) order[k++] = i;
    for (const g of meter.groups) {
      mark(meterId, g.month, g.n, g.late);
      if (months.of(g.minUs - ZONE_SLACK_US) !== g.month) mark(meterId, g.month - 1, 0, 0);
      if (months.of(g.maxUs + ZONE_SLACK_US) !== g.month) mark(meterId, g.month + 1, 0, 0);
      // r.at > max_at is r.at >= max_at + 1 µs: PostgreSQL's instants are whole microseconds.
      boundary(meterId, g, g.month - 1, monthStartUs(g.month) + ZONE_SLACK_US, g.minUs);
      boundary(meterId, g, g.month + 1, g.maxUs + 1, monthStartUs(g.month + 1) - ZONE_SLACK_US);
    }
  }
  return { order, marks, boundaries };
}
