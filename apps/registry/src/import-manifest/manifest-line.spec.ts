import { generateKeyPairSync } from 'node:crypto';
import { ecPublicJwkSchema, manifestLineSchema } from '@meterlink/contracts';
import { importLineSchema, parseLine } from './manifest-line';
import { isP256Point } from './p256-point';

const publicJwk = (): { x: string; y: string } =>
  generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }) as {
    x: string;
    y: string;
  };

const line = (jwk: Record<string, unknown>): Record<string, unknown> => ({
  meterId: 'EM-0000001',
  eid: '89049032000000000000000000000001',
  kind: 'electricity',
  region: 'north',
  customerId: 'CUST-17',
  tariffId: 'residential-tou',
  reportIntervalS: 900,
  signedTelemetry: false,
  devicePublicKeyJwk: jwk,
  mqttPassword: 'a-long-enough-password',
  profiles: [
    { iccid: '8944150000000000017', carrierId: 'carrier-a', state: 'enabled', fallback: false },
    { iccid: '8944200000000000022', carrierId: 'carrier-b', state: 'disabled', fallback: true },
  ],
});

const flip = (b64: string): string =>
  Buffer.from(
    Buffer.from(b64, 'base64url').map((byte, i) => (i === 31 ? byte ^ 1 : byte)),
  ).toString('base64url');

describe('manifest line parsing', () => {
  const valid = Array.from({ length: 20 }, publicJwk);
  const P = 'ffffffff00000001000000000000000000000000ffffffffffffffffffffffff';
  const keys: Record<string, unknown>[] = [
    ...valid.map((k) => ({ kty: 'EC', crv: 'P-256', ...k })),
    ...valid.map((k) => ({ kty: 'EC', crv: 'P-256', x: k.x, y: flip(k.y) })),
    { kty: 'EC', crv: 'P-256', x: Buffer.from(P, 'hex').toString('base64url'), y: valid[0]!.y },
    { kty: 'EC', crv: 'P-256', x: valid[0]!.x.slice(1), y: valid[0]!.y },
    { kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA' },
    { kty: 'EC', crv: 'P-256', x: `${valid[0]!.x}A`, y: valid[0]!.y },
    { kty: 'EC', crv: 'P-256', x: '!!!', y: valid[0]!.y },
    { kty: 'EC', crv: 'P-384', ...valid[0] },
    { kty: 'RSA', crv: 'P-256', ...valid[0] },
  ];

  it('accepts exactly the lines the contract schema accepts', () => {
    for (const jwk of keys)
      expect([jwk, importLineSchema.safeParse(line(jwk)).success]).toEqual([
        jwk,
        manifestLineSchema.safeParse(line(jwk)).success,
      ]);
  });

  it('checks points on the curve like a key import does', () => {
    for (const k of valid) expect(isP256Point(k.x, k.y)).toBe(true);
    for (const k of valid) expect(isP256Point(k.x, flip(k.y))).toBe(false);
    for (const k of valid)
      expect(
        ecPublicJwkSchema.safeParse({ kty: 'EC', crv: 'P-256', x: k.x, y: flip(k.y) }).success,
      ).toBe(false);
  });

  it('keeps the parsed line as the contract defines it, defaults included', () => {
    const parsed = parseLine(JSON.stringify(line({ kty: 'EC', crv: 'P-256', ...valid[0] })));
    expect(parsed).toEqual({
      value: manifestLineSchema.parse(line({ kty: 'EC', crv: 'P-256', ...valid[0] })),
    });
    expect(parsed).toMatchObject({ value: { rollbackWindowS: 600, fallbackDelayS: 3600 } });
  });

  it('accepts provisioning.md\'s sample password "…" and any other non-empty one up to 256 characters', () => {
    const withPassword = (mqttPassword: string): string =>
      JSON.stringify({ ...line({ kty: 'EC', crv: 'P-256', ...valid[0] }), mqttPassword });
    for (const password of ['…', 'x', 'short', 'p'.repeat(256)])
      expect(parseLine(withPassword(password))).toMatchObject({
        value: { mqttPassword: password },
      });
    expect(parseLine(withPassword(''))).toMatchObject({
      reason: expect.stringMatching(/^mqttPassword/) as unknown,
    });
    expect(parseLine(withPassword('p'.repeat(257)))).toMatchObject({
      reason: expect.stringMatching(/^mqttPassword/) as unknown,
    });
  });

  it('names the reason of a refused line', () => {
    expect(parseLine('{"meterId": "broken"')).toEqual({ reason: 'not valid JSON' });
    const offCurve = parseLine(
      JSON.stringify(line({ kty: 'EC', crv: 'P-256', x: valid[0]!.x, y: flip(valid[0]!.y) })),
    );
    expect(offCurve).toEqual({ reason: 'devicePublicKeyJwk: not a valid P-256 public key' });
    const wrongEid = parseLine(
      JSON.stringify({ ...line({ kty: 'EC', crv: 'P-256', ...valid[0] }), eid: '123' }),
    );
    expect('reason' in wrongEid ? wrongEid.reason : '').toMatch(/^eid: eid must be 32 digits/);
  });
});
