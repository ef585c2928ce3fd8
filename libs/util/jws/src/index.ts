import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';

/**
 * Compact JWS (RFC 7515) with ES256 only, the one algorithm device-interface §5 allows. Built on
 * node:crypto so that no third-party code sits on the signature path.
 */

export interface EcJwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
  d?: string;
  kid?: string;
}

export type JwsVerifyError =
  'malformed' | 'unsupported_alg' | 'kid_mismatch' | 'bad_signature' | 'payload_not_json';
export type JwsVerifyResult =
  { ok: true; kid: string | undefined; payload: unknown } | { ok: false; error: JwsVerifyError };

const b64url = (buf: Buffer): string => buf.toString('base64url');

export function signCompact(payload: unknown, privateKey: KeyObject, kid: string): string {
  const header = b64url(Buffer.from(JSON.stringify({ alg: 'ES256', kid })));
  const body = b64url(Buffer.from(JSON.stringify(payload)));
  const signingInput = `${header}.${body}`;
  const signature = sign('sha256', Buffer.from(signingInput), {
    key: privateKey,
    dsaEncoding: 'ieee-p1363',
  });
  return `${signingInput}.${b64url(signature)}`;
}

/** Reads the protected header without verifying (to find which key to verify with). */
export function peekHeader(jws: string): { alg?: unknown; kid?: unknown } | undefined {
  const [header] = jws.split('.');
  if (!header) return undefined;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(header, 'base64url').toString('utf8'));
    return typeof parsed === 'object' && parsed !== null ? parsed : undefined;
  } catch {
    return undefined;
  }
}

export function verifyCompact(
  jws: string,
  publicKey: KeyObject,
  expectedKid?: string,
): JwsVerifyResult {
  const parts = jws.split('.');
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]*$/.test(p)))
    return { ok: false, error: 'malformed' };
  const [header, body, signature] = parts as [string, string, string];
  const protectedHeader = peekHeader(jws);
  if (!protectedHeader) return { ok: false, error: 'malformed' };
  if (protectedHeader.alg !== 'ES256') return { ok: false, error: 'unsupported_alg' };
  const kid = typeof protectedHeader.kid === 'string' ? protectedHeader.kid : undefined;
  if (expectedKid !== undefined && kid !== expectedKid) return { ok: false, error: 'kid_mismatch' };
  const sig = Buffer.from(signature, 'base64url');
  if (sig.length !== 64) return { ok: false, error: 'bad_signature' };
  const valid = verify(
    'sha256',
    Buffer.from(`${header}.${body}`),
    { key: publicKey, dsaEncoding: 'ieee-p1363' },
    sig,
  );
  if (!valid) return { ok: false, error: 'bad_signature' };
  try {
    return { ok: true, kid, payload: JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) };
  } catch {
    return { ok: false, error: 'payload_not_json' };
  }
}

export function publicKeyFromJwk(jwk: EcJwk): KeyObject {
  const { kty, crv, x, y } = jwk;
  return createPublicKey({ key: { kty, crv, x, y }, format: 'jwk' });
}

export function privateKeyFromJwk(jwk: EcJwk): KeyObject {
  if (!jwk.d) throw new Error('private JWK has no d');
  return createPrivateKey({
    key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, d: jwk.d },
    format: 'jwk',
  });
}

export function generateEcKeyPair(): { privateJwk: EcJwk; publicJwk: EcJwk } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    privateJwk: privateKey.export({ format: 'jwk' }) as EcJwk,
    publicJwk: publicKey.export({ format: 'jwk' }) as EcJwk,
  };
}

/** Caches KeyObjects per JWK so hot paths don't re-import keys for every message. */
export class PublicKeyCache {
  private readonly keys = new Map<string, { fingerprint: string; key: KeyObject }>();
  private readonly maxEntries: number;
  constructor(maxEntries = 100_000) {
    this.maxEntries = maxEntries;
  }
  get(id: string, jwk: EcJwk): KeyObject {
    const fingerprint = `${jwk.x}.${jwk.y}`;
    const hit = this.keys.get(id);
    if (hit && hit.fingerprint === fingerprint) return hit.key;
    if (this.keys.size >= this.maxEntries) {
      const oldest = this.keys.keys().next().value;
      if (oldest !== undefined) this.keys.delete(oldest);
    }
    const key = publicKeyFromJwk(jwk);
    this.keys.set(id, { fingerprint, key });
    return key;
  }
}
