import { z } from 'zod';
import { ecPublicJwkSchema, manifestLineSchema, type ManifestLine } from '@meterlink/contracts';
import { isP256Point } from './p256-point';

/**
 * The contract's device key check, with a fast path: a well-formed P-256 point is accepted after
 * a curve equation check (2 µs); anything else goes through the contract's own check
 * (crypto.createPublicKey, 65 µs), so this accepts exactly what the contract accepts.
 */
const deviceKeySchema = z
  .object(ecPublicJwkSchema.shape)
  .refine((jwk) => isP256Point(jwk.x, jwk.y) || ecPublicJwkSchema.safeParse(jwk).success, {
    message: 'not a valid P-256 public key',
  });

/** provisioning.md's manifest line, as the contract defines it. */
export const importLineSchema = manifestLineSchema.safeExtend({
  devicePublicKeyJwk: deviceKeySchema,
});

export function parseLine(text: string): { value: ManifestLine } | { reason: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { reason: 'not valid JSON' };
  }
  const parsed = importLineSchema.safeParse(json);
  if (parsed.success) return { value: parsed.data };
  return {
    reason: parsed.error.issues
      .slice(0, 3)
      .map((i) => `${i.path.join('.') || '(line)'}: ${i.message}`)
      .join('; '),
  };
}
