// NIST P-256 (FIPS 186-4 D.1.2.3): y² = x³ - 3x + b over GF(p).
const P = 2n ** 256n - 2n ** 224n + 2n ** 192n + 2n ** 96n - 1n;
const B = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn;
const COORDINATE = /^[A-Za-z0-9_-]{43}$/;

function coordinate(text: string): bigint | undefined {
  if (!COORDINATE.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  if (bytes.length !== 32) return undefined;
  const value = BigInt(`0x${bytes.toString('hex')}`);
  return value < P ? value : undefined;
}

/**
 * Whether x and y (base64url, 32 bytes each, as RFC 7518 §6.2.1 wants them) are a point on
 * P-256: a few big-integer operations, about 1/20 of what importing the key with
 * crypto.createPublicKey costs (measured 65 µs per key, which made the device-key check the
 * largest part of parsing a manifest line). `false` means "not shown to be valid here", not
 * "invalid": callers fall back to the full import for anything unusual.
 */
export function isP256Point(x: string, y: string): boolean {
  const px = coordinate(x);
  const py = coordinate(y);
  if (px === undefined || py === undefined) return false;
  const right = (((((px * px) % P) * px - 3n * px + B) % P) + P) % P;
  return (py * py) % P === right;
}
