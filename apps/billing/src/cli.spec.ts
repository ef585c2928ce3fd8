import { CliUsageError, parseCli, requestFor } from './cli';

describe('billing-cli', () => {
  const env = { BILLING_TOKEN: 'a-token-of-sixteen+', BILLING_URL: 'http://billing:3005/' };

  it('closes a month through POST /v1/months/{period}/close', () => {
    const cli = parseCli(['close-month', '2026-10'], env);
    expect(requestFor(cli)).toEqual({
      method: 'POST',
      url: 'http://billing:3005/v1/months/2026-10/close',
    });
  });

  it('asks for a statement as CSV with --csv, the id escaped', () => {
    const cli = parseCli(['statement', 'customer', 'CUST 17', '2026-02', '--csv'], env);
    expect(requestFor(cli)).toEqual({
      method: 'GET',
      url: 'http://billing:3005/v1/statements/customers/CUST%2017/2026-02?format=csv',
    });
  });

  it('refuses a bad month, an unknown subject and a missing token', () => {
    expect(() => parseCli(['close-month', '2026-13'], env)).toThrow(CliUsageError);
    expect(() => parseCli(['statement', 'region', 'x', '2026-01'], env)).toThrow(CliUsageError);
    expect(() => parseCli(['close-month', '2026-01'], {})).toThrow(/BILLING_TOKEN/);
  });
});
