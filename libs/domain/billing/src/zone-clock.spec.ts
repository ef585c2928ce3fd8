import { BillingError } from './billing.error';
import { ZoneClock } from './zone-clock';

const ms = (iso: string): number => Date.parse(iso);
const HOUR = 3_600_000;

describe('ZoneClock', () => {
  const london = new ZoneClock('Europe/London');

  it('knows the minute London changes its clocks, both ways', () => {
    // 2026: BST from 29 Mar 01:00Z to 25 Oct 01:00Z.
    expect(london.offsetAt(ms('2026-03-29T00:59:59.999Z'))).toBe(0);
    expect(london.offsetAt(ms('2026-03-29T01:00:00Z'))).toBe(HOUR);
    expect(london.offsetAt(ms('2026-10-25T00:59:59.999Z'))).toBe(HOUR);
    expect(london.offsetAt(ms('2026-10-25T01:00:00Z'))).toBe(0);
    expect(london.nextChangeAfter(ms('2026-06-01T00:00:00Z'))).toBe(ms('2026-10-25T01:00:00Z'));
  });

  it('finds local months and days as UTC instants, DST included', () => {
    expect(london.localMonth('2026-04')).toEqual({
      period: '2026-04',
      startMs: ms('2026-03-31T23:00:00Z'),
      endMs: ms('2026-04-30T23:00:00Z'),
    });
    expect(london.localPeriodOf(ms('2026-03-31T23:30:00Z'))).toBe('2026-04');
    expect(
      london.localPeriodsBetween(ms('2026-03-31T22:30:00Z'), ms('2026-03-31T23:00:00.001Z')),
    ).toEqual(['2026-03', '2026-04']);
    expect(
      london.localPeriodsBetween(ms('2026-03-31T22:30:00Z'), ms('2026-03-31T23:00:00Z')),
    ).toEqual(['2026-03']);
    expect(london.startOfLocalDay(ms('2026-07-01T12:00:00Z'))).toBe(ms('2026-06-30T23:00:00Z'));
    // The repeated hour resolves to its first occurrence, the skipped one to the jump.
    expect(london.utcOfLocal(Date.UTC(2026, 9, 25, 1, 30))).toBe(ms('2026-10-25T00:30:00Z'));
    expect(london.utcOfLocal(Date.UTC(2026, 2, 29, 1, 30))).toBe(ms('2026-03-29T01:00:00Z'));
  });

  it('works for a zone west of UTC', () => {
    const ny = new ZoneClock('America/New_York');
    // 8 Mar 2026 02:00 EST → 03:00 EDT, at 07:00Z.
    expect(ny.offsetAt(ms('2026-03-08T06:59:00Z'))).toBe(-5 * HOUR);
    expect(ny.offsetAt(ms('2026-03-08T07:00:00Z'))).toBe(-4 * HOUR);
    expect(ny.localMonth('2026-03').startMs).toBe(ms('2026-03-01T05:00:00Z'));
  });

  it('refuses an unknown zone', () => {
    expect(() => new ZoneClock('Mars/Olympus_Mons')).toThrow(BillingError);
  });
});
