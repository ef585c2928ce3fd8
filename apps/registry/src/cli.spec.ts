import { CliUsageError, parseCli } from './cli';

describe('registry-cli arguments', () => {
  const env = { REGISTRY_TOKEN: 'an-admin-token-of-the-registry' };

  it('streams a manifest file to the registry named by --url, else REGISTRY_URL', () => {
    expect(parseCli(['import-manifest', 'fleet.ndjson', '--url', 'http://reg:3001/'], env)).toEqual(
      {
        command: 'import-manifest',
        file: 'fleet.ndjson',
        url: 'http://reg:3001',
        token: env.REGISTRY_TOKEN,
      },
    );
    expect(
      parseCli(['import-manifest', '-'], { ...env, REGISTRY_URL: 'https://registry.example' }),
    ).toMatchObject({ file: '-', url: 'https://registry.example' });
  });

  it('takes the token from the environment only', () => {
    expect(() => parseCli(['import-manifest', 'fleet.ndjson'], {})).toThrow(/REGISTRY_TOKEN/);
    expect(() => parseCli(['import-manifest', 'fleet.ndjson', '--token', 'x'], env)).toThrow(
      /unknown option '--token'/i,
    );
  });

  it('refuses unknown commands and missing or extra files', () => {
    expect(() => parseCli(['export', 'x'], env)).toThrow(CliUsageError);
    expect(() => parseCli(['import-manifest'], env)).toThrow(CliUsageError);
    expect(() => parseCli(['import-manifest', 'a', 'b'], env)).toThrow(CliUsageError);
    expect(() => parseCli(['import-catalogue', '-'], env)).toThrow(CliUsageError);
    expect(() => parseCli(['import-manifest', 'a', '--url', 'ftp://x'], env)).toThrow(
      CliUsageError,
    );
  });
});
