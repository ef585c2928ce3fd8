import { BillingError } from './billing.error';
import {
  formatPeriod,
  nextPeriod,
  parsePeriod,
  type BillingPeriod,
  type PeriodWindow,
} from './period';

const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;

interface YearRules {
  /** UTC instants where the offset changes, ascending, and the offset from each on. */
  readonly at: number[];
  readonly offsetAfter: number[];
  readonly offsetAtStart: number;
  readonly startMs: number;
  readonly endMs: number;
}

/**
 * Wall-clock arithmetic in one IANA time zone with its DST, from Intl alone (Node 20 has no
 * Temporal). Offsets are read from Intl about 400 times per zone and year (each day, then a
 * bisection to the minute where one changed) and kept, so rating looks them up, never formats.
 * Build one per zone and keep it: the cache is what makes it fast.
 */
export class ZoneClock {
  private readonly format: Intl.DateTimeFormat;
  private readonly years = new Map<number, YearRules>();
  private last: YearRules | undefined;

  constructor(readonly timeZone: string) {
    try {
      this.format = new Intl.DateTimeFormat('en-US', {
        timeZone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      });
    } catch {
      throw new BillingError('unknown_time_zone', `unknown time zone ${timeZone}`);
    }
  }

  /** Local wall time minus UTC at an instant, in ms (Europe/London: 0 in winter, 3,600,000 in summer). */
  offsetAt(ms: number): number {
    const rules = this.rulesFor(ms);
    let offset = rules.offsetAtStart;
    for (let i = 0; i < rules.at.length && (rules.at[i] ?? Infinity) <= ms; i++) {
      offset = rules.offsetAfter[i] ?? offset;
    }
    return offset;
  }

  /** The first instant after `ms` where the offset changes (or the end of ms's UTC year, a safe bound). */
  nextChangeAfter(ms: number): number {
    const rules = this.rulesFor(ms);
    for (const at of rules.at) if (at > ms) return at;
    return rules.endMs;
  }

  /**
   * The UTC instant of a local wall time: in a repeated hour its first occurrence; in a skipped
   * hour the instant the clocks jumped (the first that exists after it).
   */
  utcOfLocal(localMs: number): number {
    const before = localMs - this.offsetAt(localMs - DAY_MS);
    const after = localMs - this.offsetAt(localMs + DAY_MS);
    const beforeFits = before + this.offsetAt(before) === localMs;
    const afterFits = after + this.offsetAt(after) === localMs;
    if (beforeFits && afterFits) return Math.min(before, after);
    if (beforeFits) return before;
    if (afterFits) return after;
    return this.nextChangeAfter(Math.min(before, after));
  }

  /** Local midnight starting the day `ms` falls in, as a UTC instant. */
  startOfLocalDay(ms: number): number {
    const local = ms + this.offsetAt(ms);
    return this.utcOfLocal(local - mod(local, DAY_MS));
  }

  /** A calendar month of local time: from local midnight on the 1st to local midnight on the next 1st. */
  localMonth(period: BillingPeriod): PeriodWindow {
    const { year, month } = parsePeriod(period);
    return {
      period,
      startMs: this.utcOfLocal(Date.UTC(year, month - 1, 1)),
      endMs: this.utcOfLocal(Date.UTC(year, month, 1)),
    };
  }

  /** The local calendar month an instant falls in. */
  localPeriodOf(ms: number): BillingPeriod {
    const d = new Date(ms + this.offsetAt(ms));
    return formatPeriod(d.getUTCFullYear(), d.getUTCMonth() + 1);
  }

  /**
   * Every local month that [fromMs, toMs) touches, in order: the consumption periods a reading
   * re-rates are those of the intervals it ends and starts (previous reading → next reading).
   */
  localPeriodsBetween(fromMs: number, toMs: number): BillingPeriod[] {
    if (!(toMs > fromMs)) return [];
    const out: BillingPeriod[] = [];
    const last = this.localPeriodOf(toMs - 1);
    for (let p = this.localPeriodOf(fromMs); ; p = nextPeriod(p)) {
      out.push(p);
      if (p === last) return out;
    }
  }

  private rulesFor(ms: number): YearRules {
    const last = this.last;
    if (last && ms >= last.startMs && ms < last.endMs) return last;
    const year = new Date(ms).getUTCFullYear();
    let rules = this.years.get(year);
    if (!rules) {
      rules = this.computeYear(year);
      this.years.set(year, rules);
    }
    this.last = rules;
    return rules;
  }

  private computeYear(year: number): YearRules {
    const startMs = Date.UTC(year, 0, 1);
    const endMs = Date.UTC(year + 1, 0, 1);
    const at: number[] = [];
    const offsetAfter: number[] = [];
    const offsetAtStart = this.readOffset(startMs);
    let prev = offsetAtStart;
    for (let t = startMs; t < endMs; t += DAY_MS) {
      const next = Math.min(t + DAY_MS, endMs);
      const o = this.readOffset(next === endMs ? next - MINUTE_MS : next);
      if (o === prev) continue;
      // The change is in (t, next]: bisect to the minute (tz rules change on whole minutes).
      let lo = t;
      let hi = next === endMs ? next - MINUTE_MS : next;
      while (hi - lo > MINUTE_MS) {
        const mid = lo + Math.floor((hi - lo) / 2 / MINUTE_MS) * MINUTE_MS;
        if (this.readOffset(mid) === prev) lo = mid;
        else hi = mid;
      }
      at.push(hi);
      offsetAfter.push(o);
      prev = o;
    }
    return { at, offsetAfter, offsetAtStart, startMs, endMs };
  }

  private readOffset(ms: number): number {
    let y = 0;
    let mo = 0;
    let d = 0;
    let h = 0;
    let mi = 0;
    let s = 0;
    for (const part of this.format.formatToParts(ms)) {
      const v = Number(part.value);
      const type = part.type;
      if (type === 'year') y = v;
      else if (type === 'month') mo = v;
      else if (type === 'day') d = v;
      else if (type === 'hour') h = v;
      else if (type === 'minute') mi = v;
      else if (type === 'second') s = v;
    }
    const wholeSecond = ms - mod(ms, 1000);
    return Date.UTC(y, mo - 1, d, h, mi, s) - wholeSecond;
  }
}

const mod = (a: number, b: number): number => ((a % b) + b) % b;
