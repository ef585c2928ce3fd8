import {
  addRational,
  decimalToRational,
  formatRational,
  parseRational,
  rational,
  roundHalfEven,
  toSafeMinor,
} from './money';
import { BillingError } from './billing.error';

describe('money', () => {
  it('rounds exact halves to the even neighbour and everything else to the nearest', () => {
    const cases: [bigint, bigint, bigint][] = [
      [1n, 2n, 0n], // 0.5 → 0
      [3n, 2n, 2n], // 1.5 → 2
      [5n, 2n, 2n], // 2.5 → 2
      [7n, 2n, 4n], // 3.5 → 4
      [1250n, 100n, 12n], // 12.50 → 12
      [1350n, 100n, 14n], // 13.50 → 14
      [-1n, 2n, 0n], // -0.5 → 0
      [-3n, 2n, -2n], // -1.5 → -2
      [-5n, 2n, -2n], // -2.5 → -2
      [24999n, 10000n, 2n], // 2.4999 → 2
      [25001n, 10000n, 3n], // 2.5001 → 3
      [7n, 3n, 2n], // 2.333… → 2
      [8n, 3n, 3n], // 2.666… → 3
      [-7n, 3n, -2n], // -2.333… → -2
      [42n, 1n, 42n],
    ];
    for (const [n, d, expected] of cases) {
      expect([n, d, roundHalfEven(rational(n, d))]).toEqual([n, d, expected]);
    }
  });

  it('reads tariff decimals as the digits say, never as the nearest binary float', () => {
    expect(decimalToRational('24.5')).toEqual({ n: 49n, d: 2n });
    expect(decimalToRational(12.5)).toEqual({ n: 25n, d: 2n });
    // 0.1 + 0.2 is 0.30000000000000004 in floats; as decimals it is 3/10.
    expect(addRational(decimalToRational(0.1), decimalToRational('0.2'))).toEqual({
      n: 3n,
      d: 10n,
    });
    expect(() => decimalToRational(1e21)).toThrow(BillingError);
    expect(() => decimalToRational('1,5')).toThrow(BillingError);
  });

  it('keeps rationals reduced with a positive denominator, and round-trips their text', () => {
    expect(rational(6, -4)).toEqual({ n: -3n, d: 2n });
    expect(formatRational(rational(368, 9))).toBe('368/9');
    expect(formatRational(rational(10, 5))).toBe('2');
    expect(parseRational('-368/9')).toEqual({ n: -368n, d: 9n });
    expect(() => rational(1, 0)).toThrow(BillingError);
    expect(() => rational(0.5)).toThrow(BillingError);
  });

  it('refuses an amount a JSON number could not carry exactly', () => {
    expect(toSafeMinor(9007199254740991n)).toBe(Number.MAX_SAFE_INTEGER);
    expect(() => toSafeMinor(9007199254740992n)).toThrow(BillingError);
  });
});
