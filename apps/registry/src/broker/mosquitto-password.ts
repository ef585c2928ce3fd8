import { pbkdf2, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

const pbkdf2Async = promisify(pbkdf2);
const SALT_BYTES = 12;
const HASH_BYTES = 64;
const VERIFIER = /^\$7\$(\d+)\$([A-Za-z0-9+/]+=*)\$([A-Za-z0-9+/]+=*)$/;

/**
 * A password verifier in the format of Mosquitto's password_file (`mosquitto_passwd`): `$7$`,
 * PBKDF2-HMAC-SHA512 with the iteration count, a 12-byte salt and the 64-byte hash, both base64.
 * What dynsec computes inside the broker is computed here instead, on libuv's thread pool.
 */
export async function mosquittoVerifier(password: string, iterations: number): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await pbkdf2Async(password, salt, iterations, HASH_BYTES, 'sha512');
  return `$7$${iterations}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** Checks a password against a verifier, as the broker does (tests and diagnostics). */
export function verifyMosquittoPassword(verifier: string, password: string): boolean {
  const match = VERIFIER.exec(verifier);
  if (!match) return false;
  const expected = Buffer.from(match[3]!, 'base64');
  const actual = pbkdf2Sync(
    password,
    Buffer.from(match[2]!, 'base64'),
    Number(match[1]),
    expected.length,
    'sha512',
  );
  return timingSafeEqual(expected, actual);
}

/**
 * One password_file line. Mosquitto splits a line at its first colon and refuses none of the
 * meter id characters (^[A-Za-z0-9._-]+$), so the id goes in as it is.
 */
export function passwordFileLine(meterId: string, verifier: string): string {
  if (meterId.includes(':') || /\s/.test(meterId) || !VERIFIER.test(verifier))
    throw new Error(`not a password file entry: ${meterId}`);
  return `${meterId}:${verifier}\n`;
}
