import { DEFAULT_OPTIONS, parseOptions } from './options';

describe('bench options', () => {
  it('defaults to a million meters at 20,000 messages/s and 11,000 for latency', () => {
    expect(parseOptions([])).toEqual(DEFAULT_OPTIONS);
    expect(DEFAULT_OPTIONS).toMatchObject({ meters: 1_000_000, rate: 20_000, latencyRate: 11_000 });
  });
  it('reads numbers and flags', () => {
    expect(parseOptions(['--meters', '50000', '--drain', '0', '--reset-state'])).toMatchObject({
      meters: 50_000,
      drain: 0,
      resetState: true,
    });
  });
  it('refuses what it does not know and fleets too small for the roles', () => {
    expect(() => parseOptions(['--meter', '5'])).toThrow('bad argument');
    expect(() => parseOptions(['--meters', '-1'])).toThrow('bad argument');
    expect(() => parseOptions(['--meters', '100', '--silent-meters', '60', '--degraders', '50'])).toThrow(
      'steady meters',
    );
  });
});
