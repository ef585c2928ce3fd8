import {
  generateEcKeyPair,
  peekHeader,
  privateKeyFromJwk,
  publicKeyFromJwk,
  signCompact,
  verifyCompact,
} from './index';

describe('compact JWS ES256', () => {
  const { privateJwk, publicJwk } = generateEcKeyPair();
  const pub = publicKeyFromJwk(publicJwk);
  const priv = privateKeyFromJwk(privateJwk);

  it('round-trips a payload and exposes the kid', () => {
    const jws = signCompact({ a: 1 }, priv, 'meter-1');
    expect(peekHeader(jws)).toEqual({ alg: 'ES256', kid: 'meter-1' });
    expect(verifyCompact(jws, pub, 'meter-1')).toEqual({
      ok: true,
      kid: 'meter-1',
      payload: { a: 1 },
    });
  });

  it('detects a modified payload', () => {
    const [h, , s] = signCompact({ a: 1 }, priv, 'k').split('.');
    const forged = `${h}.${Buffer.from(JSON.stringify({ a: 2 })).toString('base64url')}.${s}`;
    expect(verifyCompact(forged, pub)).toEqual({ ok: false, error: 'bad_signature' });
  });

  it('refuses alg none and other algorithms', () => {
    const header = Buffer.from(JSON.stringify({ alg: 'none', kid: 'k' })).toString('base64url');
    const body = Buffer.from('{}').toString('base64url');
    expect(verifyCompact(`${header}.${body}.`, pub)).toEqual({
      ok: false,
      error: 'unsupported_alg',
    });
  });

  it('refuses a kid other than the expected one and malformed input', () => {
    expect(verifyCompact(signCompact({}, priv, 'a'), pub, 'b')).toEqual({
      ok: false,
      error: 'kid_mismatch',
    });
    expect(verifyCompact('not-a-jws', pub)).toEqual({ ok: false, error: 'malformed' });
  });
});
