import { parseDuration } from './duration';

describe('durations on the rebuild command line', () => {
  it('reads seconds, minutes, hours and days', () => {
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('90m')).toBe(5_400_000);
    expect(parseDuration('48h')).toBe(172_800_000);
    expect(parseDuration('1.5d')).toBe(129_600_000);
  });
  it('refuses anything else', () => {
    expect(() => parseDuration('48')).toThrow('not a duration');
    expect(() => parseDuration('2w')).toThrow('not a duration');
  });
});
