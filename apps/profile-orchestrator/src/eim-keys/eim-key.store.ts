import { randomBytes, type KeyObject } from 'node:crypto';
import { link, mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { generateEcKeyPair, privateKeyFromJwk, type EcJwk } from '@meterlink/jws';
import { createLogger } from '@meterlink/observability';

export interface EimSigningKey {
  kid: string;
  privateKey: KeyObject;
  publicJwk: EcJwk;
}

/**
 * The eIM key behind a small interface: files today (mode 600), a KMS or HSM later. The public
 * halves of the current and the next key are published as JWKS (device-interface §5), which
 * factories load into meters at manufacture, so that a rotation finds the next key in them.
 */
export interface EimKeyStore {
  current(): EimSigningKey;
  /** Current key first, then the next one (absent only when it could not be stored). */
  jwks(): { keys: EcJwk[] };
}

type PrivateJwk = EcJwk & { kid: string; d: string };

/** Where the next key lives by default: beside the current one (`eim-key.json` → `eim-key.next.json`). */
export const nextKeyPath = (currentPath: string): string =>
  currentPath.endsWith('.json')
    ? `${currentPath.slice(0, -'.json'.length)}.next.json`
    : `${currentPath}.next`;

function newKey(): PrivateJwk {
  const { privateJwk } = generateEcKeyPair();
  const kid = `eim-${new Date().toISOString().slice(0, 10)}-${privateJwk.x.slice(0, 8)}`;
  return { ...privateJwk, kid, d: privateJwk.d! };
}

async function readKey(path: string): Promise<PrivateJwk> {
  const jwk = JSON.parse(await readFile(path, 'utf8')) as Partial<PrivateJwk>;
  if (!jwk.kid) throw new Error(`eIM key ${path} has no kid`);
  if (!jwk.d) throw new Error(`eIM key ${path} is not a private key (no d)`);
  return jwk as PrivateJwk;
}

const errno = (error: unknown): string | undefined => (error as NodeJS.ErrnoException).code;

/**
 * The key in `path`, generated first if the file is absent. The file appears complete or not at
 * all (written aside, then hard-linked into place), and only one writer's link succeeds: replicas
 * starting together on an empty directory all end up with the winner's key.
 */
async function readOrCreateKey(path: string): Promise<{ jwk: PrivateJwk; created: boolean }> {
  try {
    return { jwk: await readKey(path), created: false };
  } catch (error) {
    if (errno(error) !== 'ENOENT') throw error;
  }
  await mkdir(dirname(path), { recursive: true });
  const aside = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(aside, JSON.stringify(newKey()), { mode: 0o600, flag: 'wx' });
  let created = false;
  try {
    await link(aside, path);
    created = true;
  } catch (error) {
    if (errno(error) !== 'EEXIST') throw error; // another process won the race: its key it is
  } finally {
    await unlink(aside).catch(() => undefined);
  }
  return { jwk: await readKey(path), created };
}

function signingKey(jwk: PrivateJwk): EimSigningKey {
  return {
    kid: jwk.kid,
    privateKey: privateKeyFromJwk(jwk),
    publicJwk: { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, kid: jwk.kid },
  };
}

/** A directory the process may not write (a read-only Secret mount): nothing can be generated there. */
const UNWRITABLE = new Set(['EROFS', 'EACCES', 'EPERM']);

/**
 * Two private JWKs (with `kid`): the current key in `path` (EIM_KEY_FILE), which signs packages,
 * and the next one in `nextPath` (EIM_NEXT_KEY_FILE), published ahead of its use. Each is
 * generated on first start when absent. `rotateEimKeys` promotes next to current.
 */
export class FileEimKeyStore implements EimKeyStore {
  private key: EimSigningKey | undefined;
  private next: EimSigningKey | undefined;
  private readonly log = createLogger('FileEimKeyStore');

  constructor(
    private readonly path: string,
    private readonly nextPath: string = nextKeyPath(path),
  ) {}

  async load(): Promise<void> {
    const current = await readOrCreateKey(this.path);
    if (current.created) this.log.info({ kid: current.jwk.kid }, 'generated a new eIM signing key');
    this.key = signingKey(current.jwk);
    try {
      const next = await readOrCreateKey(this.nextPath);
      if (next.jwk.kid === current.jwk.kid || next.jwk.x === current.jwk.x)
        throw new Error(`the next eIM key ${this.nextPath} is the current one (${next.jwk.kid})`);
      if (next.created) this.log.info({ kid: next.jwk.kid }, 'generated the next eIM key');
      this.next = signingKey(next.jwk);
    } catch (error) {
      if (!UNWRITABLE.has(errno(error) ?? '')) throw error;
      // An older deployment's read-only key Secret with the current key only: keep serving it,
      // and say what is missing (the Secret should carry the next key too).
      this.log.warn(
        { path: this.nextPath, code: errno(error) },
        'no next eIM key and none can be stored there: the JWKS holds the current key only',
      );
    }
  }

  current(): EimSigningKey {
    if (!this.key) throw new Error('eIM key not loaded');
    return this.key;
  }

  jwks(): { keys: EcJwk[] } {
    return { keys: [this.current().publicJwk, ...(this.next ? [this.next.publicJwk] : [])] };
  }
}

/**
 * Rotation: the next key (published for a while, so meters made since hold it) becomes the
 * current one, and a new next key is generated. The retired key is kept beside it
 * (`<EIM_KEY_FILE>.retired-<kid>`, mode 600) to undo a mistaken rotation. Refuses without a next
 * key: promoting a key no meter was given would make every meter refuse every package. Running
 * orchestrators keep their keys until restarted.
 */
export async function rotateEimKeys(
  path: string,
  nextPath: string = nextKeyPath(path),
): Promise<{ retiredKid: string; currentKid: string; nextKid: string; retiredPath: string }> {
  const current = await readKey(path);
  const next = await readKey(nextPath).catch((error: unknown) => {
    throw errno(error) === 'ENOENT'
      ? new Error(`no next eIM key in ${nextPath}: nothing to promote`)
      : error;
  });
  if (next.kid === current.kid)
    throw new Error(`the next eIM key is the current one (${next.kid})`);
  const retiredPath = `${path}.retired-${current.kid}`;
  await link(path, retiredPath);
  // Atomic: readers see the old current key or the promoted one, never a half-written file.
  await rename(nextPath, path);
  const { jwk } = await readOrCreateKey(nextPath);
  return { retiredKid: current.kid, currentKid: next.kid, nextKid: jwk.kid, retiredPath };
}
