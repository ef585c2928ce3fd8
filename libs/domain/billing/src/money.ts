import { BillingError } from './billing.error';

/**
 * An exact number n / d (d > 0, reduced). Money stays a Rational from the tariff to the single
 * rounding of a statement line; quantities (Wh, bytes, milliseconds) too wherever they feed one.
 */
export interface Rational {
  readonly n: bigint;
  readonly d: bigint;
}

export const ZERO: Rational = { n: 0n, d: 1n };

const abs = (x: bigint): bigint => (x < 0n ? -x : x);

const gcd = (a: bigint, b: bigint): bigint => {
  a = abs(a);
  b = abs(b);
  while (b !== 0n) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
};

const toBigInt = (x: bigint | number, what: string): bigint => {
  if (typeof x === 'bigint') return x;
  if (!Number.isSafeInteger(x)) {
    throw new BillingError('invalid_amount', `${what} must be a safe integer, got ${x}`);
  }
  return BigInt(x);
};

/** n / d, reduced; d must not be 0. Numbers must be safe integers (never a float). */
export function rational(n: bigint | number, d: bigint | number = 1n): Rational {
  let num = toBigInt(n, 'numerator');
  let den = toBigInt(d, 'denominator');
  if (den === 0n) throw new BillingError('invalid_amount', 'denominator 0');
  if (den < 0n) {
    num = -num;
    den = -den;
  }
  if (den === 1n) return { n: num, d: 1n };
  const g = gcd(num, den);
  return g === 1n ? { n: num, d: den } : { n: num / g, d: den / g };
}

export function addRational(a: Rational, b: Rational): Rational {
  if (a.d === b.d) return rational(a.n + b.n, a.d);
  return rational(a.n * b.d + b.n * a.d, a.d * b.d);
}

export function subRational(a: Rational, b: Rational): Rational {
  return addRational(a, { n: -b.n, d: b.d });
}

export function mulRational(a: Rational, b: Rational): Rational {
  return rational(a.n * b.n, a.d * b.d);
}

export function equalRational(a: Rational, b: Rational): boolean {
  // Both are reduced with a positive denominator, so equal values have equal parts.
  return a.n === b.n && a.d === b.d;
}

export function compareRational(a: Rational, b: Rational): number {
  const l = a.n * b.d;
  const r = b.n * a.d;
  return l < r ? -1 : l > r ? 1 : 0;
}

/** Floor of n / d for d > 0 (bigint division truncates towards zero). */
const floorDiv = (n: bigint, d: bigint): bigint => {
  const q = n / d;
  return n % d !== 0n && n < 0n ? q - 1n : q;
};

/**
 * Rounds to a whole unit, halves to the even neighbour (banker's rounding): 2.5 → 2, 3.5 → 4,
 * -2.5 → -2. The one rounding of a statement line.
 */
export function roundHalfEven(x: Rational): bigint {
  const q = floorDiv(x.n, x.d);
  const twiceRemainder = 2n * (x.n - q * x.d);
  if (twiceRemainder > x.d) return q + 1n;
  if (twiceRemainder < x.d) return q;
  return q % 2n === 0n ? q : q + 1n;
}

const DECIMAL = /^(-?)([0-9]+)(?:\.([0-9]+))?$/;

/**
 * A decimal written in a tariff ("24.5", or 24.5 as JSON number) as the exact value its digits
 * say, not the binary float nearest to it.
 */
export function decimalToRational(value: string | number): Rational {
  const text = typeof value === 'number' ? numberToDecimalText(value) : value.trim();
  const m = DECIMAL.exec(text);
  if (!m) throw new BillingError('invalid_amount', `not a decimal number: ${String(value)}`);
  const [, sign = '', whole = '0', fraction = ''] = m;
  const digits = BigInt(`${sign}${whole}${fraction}`);
  return rational(digits, 10n ** BigInt(fraction.length));
}

function numberToDecimalText(value: number): string {
  if (!Number.isFinite(value)) throw new BillingError('invalid_amount', `not finite: ${value}`);
  // Shortest round-trip text is what the author typed for any decimal with < 16 digits.
  const text = String(value);
  if (/e/i.test(text)) throw new BillingError('invalid_amount', `write ${text} without exponent`);
  return text;
}

/** "n/d", or "n" for a whole number: the unrounded amount kept for the audit trail. */
export function formatRational(x: Rational): string {
  return x.d === 1n ? x.n.toString() : `${x.n}/${x.d}`;
}

/** Inverse of formatRational. */
export function parseRational(text: string): Rational {
  const m = /^(-?[0-9]+)(?:\/([0-9]+))?$/.exec(text);
  if (!m) throw new BillingError('invalid_amount', `not a rational: ${text}`);
  return rational(BigInt(m[1] ?? '0'), BigInt(m[2] ?? '1'));
}

/** For quantities shown to people (kWh, MB): never feeds an amount. */
export function rationalToNumber(x: Rational, fractionDigits = 6): number {
  const scale = 10n ** BigInt(fractionDigits);
  return Number(roundHalfEven(rational(x.n * scale, x.d))) / Number(scale);
}

/** A rounded amount as a JSON-safe integer; refuses what a number could not carry exactly. */
export function toSafeMinor(x: bigint): number {
  if (x > BigInt(Number.MAX_SAFE_INTEGER) || x < -BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new BillingError('amount_overflow', `amount ${x} is beyond a safe integer`);
  }
  return Number(x);
}
