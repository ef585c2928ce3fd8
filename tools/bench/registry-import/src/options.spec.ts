import { parseOptions, UsageError } from './options';

describe('bench:import options', () => {
  it('defaults to 100,000 meters streamed to the REST API in the default broker mode of the stack', () => {
    expect(parseOptions([])).toMatchObject({
      meters: 100_000,
      via: 'rest',
      broker: 'stack',
      port: 4390,
      probes: 3,
      again: false,
      profile: false,
    });
  });

  it('reads counts with separators, the CLI path and extra registry environment', () => {
    expect(
      parseOptions([
        '--meters',
        '1_000_000',
        '--via',
        'cli',
        '--broker',
        'dynsec',
        '--registry-env',
        'IMPORT_BATCH_SIZE=2000',
        '--probes',
        '0',
      ]),
    ).toMatchObject({
      meters: 1_000_000,
      via: 'cli',
      broker: 'dynsec',
      probes: 0,
      registryEnv: { IMPORT_BATCH_SIZE: '2000' },
    });
  });

  it('refuses what it cannot run', () => {
    expect(() => parseOptions(['--meters', '0'])).toThrow(UsageError);
    expect(() => parseOptions(['--via', 'ftp'])).toThrow(UsageError);
    expect(() => parseOptions(['--registry-env', 'NOVALUE'])).toThrow(UsageError);
    expect(parseOptions(['-h'])).toBe('help');
  });
});
