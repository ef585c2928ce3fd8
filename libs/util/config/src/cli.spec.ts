import { CliUsageError, cliServiceUrl } from './cli';

describe('cliServiceUrl', () => {
  it('takes --url, else the environment, else the default, without trailing slashes', () => {
    expect(cliServiceUrl('https://a.example/', 'http://b', 'http://c')).toBe('https://a.example');
    expect(cliServiceUrl(undefined, 'http://b//', 'http://c')).toBe('http://b');
    expect(cliServiceUrl(undefined, undefined, 'http://127.0.0.1:3001')).toBe(
      'http://127.0.0.1:3001',
    );
  });

  it('refuses anything but http(s) as a usage error', () => {
    const refuse = (): string => cliServiceUrl('ftp://x', undefined, 'http://c');
    expect(refuse).toThrow(CliUsageError);
    expect(refuse).toThrow('--url must be http(s)://, got ftp://x');
  });
});
