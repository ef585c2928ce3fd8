import type { KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { ecPublicJwkSchema } from '@meterlink/contracts';
import { publicKeyFromJwk } from '@meterlink/jws';

/** The eIM public keys a meter receives at manufacture, by key id (§5). */
export type EimKeyring = ReadonlyMap<string, KeyObject>;

export const jwksSchema = z.object({
  keys: z.array(ecPublicJwkSchema.safeExtend({ kid: z.string().min(1) })).min(1),
});
export type Jwks = z.infer<typeof jwksSchema>;

export function keyringFromJwks(input: unknown): EimKeyring {
  const parsed = jwksSchema.safeParse(input);
  if (!parsed.success) {
    throw new Error(
      `invalid eIM JWKS: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  return new Map(parsed.data.keys.map((jwk) => [jwk.kid, publicKeyFromJwk(jwk)]));
}

/** Loads the eIM JWKS from an http(s) URL (global fetch) or a file path. */
export async function loadEimKeyring(source: string, timeoutMs = 10_000): Promise<EimKeyring> {
  if (/^https?:\/\//i.test(source)) {
    const response = await fetch(source, {
      signal: AbortSignal.timeout(timeoutMs),
      headers: { accept: 'application/json' },
    });
    if (!response.ok) throw new Error(`eIM JWKS ${source}: HTTP ${response.status}`);
    return keyringFromJwks(await response.json());
  }
  return keyringFromJwks(JSON.parse(await readFile(source, 'utf8')));
}
