import { failureCode, functionCallId, retryDelayMs } from './smdp.client';

describe('ES2+ client helpers', () => {
  it('derives one idempotency key per swap and function', () => {
    expect(functionCallId('5f0c', 'downloadOrder')).toBe('5f0c:downloadOrder');
    expect(functionCallId('5f0c', 'downloadOrder')).not.toBe(
      functionCallId('5f0c', 'confirmOrder'),
    );
  });

  it('names a Failed answer by its SGP.32 outcome, else by subject and reason code', () => {
    expect(
      failureCode({ subjectCode: '8.2.5', reasonCode: '3.8', message: 'noEligibleProfile' }),
    ).toBe('noEligibleProfile');
    expect(
      failureCode({ subjectCode: '8.1', reasonCode: '4.2', message: 'injected failure' }),
    ).toBe('es2_8.1_4.2');
    expect(failureCode(undefined)).toBe('smdp_failed');
  });

  it('backs off exponentially, capped', () => {
    expect([1, 2, 3, 4].map((n) => retryDelayMs(n))).toEqual([1000, 2000, 4000, 8000]);
    expect(retryDelayMs(30)).toBe(60_000);
  });
});
