import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { generateEcKeyPair, privateKeyFromJwk, type EcJwk } from '@meterlink/jws';
import { createLogger } from '@meterlink/observability';

export interface EimSigningKey {
  kid: string;
  privateKey: KeyObject;
  publicJwk: EcJwk;
}

/**
 * The eIM key behind a small interface: a file today (mode 600), a KMS or HSM later. The public
 * half is published as JWKS, which factories load into meters at manufacture.
 */
export interface EimKeyStore {
  current(): EimSigningKey;
  jwks(): { keys: EcJwk[] };
}

export class FileEimKeyStore implements EimKeyStore {
  private key: EimSigningKey | undefined;
  private readonly log = createLogger('FileEimKeyStore');
  constructor(private readonly path: string) {}

  async load(): Promise<void> {
    if (!existsSync(this.path)) {
      const { privateJwk } = generateEcKeyPair();
      const kid = `eim-${new Date().toISOString().slice(0, 10)}-${privateJwk.x.slice(0, 8)}`;
      await mkdir(dirname(this.path), { recursive: true });
      await writeFile(this.path, JSON.stringify({ ...privateJwk, kid }), {
        mode: 0o600,
        flag: 'wx',
      }).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'EEXIST') throw error; // another replica won the race; use its key
      });
      this.log.info({ kid }, 'generated a new eIM signing key');
    }
    const jwk = JSON.parse(await readFile(this.path, 'utf8')) as EcJwk;
    if (!jwk.kid) throw new Error(`eIM key ${this.path} has no kid`);
    this.key = {
      kid: jwk.kid,
      privateKey: privateKeyFromJwk(jwk),
      publicJwk: { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, kid: jwk.kid },
    };
  }

  current(): EimSigningKey {
    if (!this.key) throw new Error('eIM key not loaded');
    return this.key;
  }

  jwks(): { keys: EcJwk[] } {
    return { keys: [this.current().publicJwk] };
  }
}
