import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateEcKeyPair, signCompact, verifyCompact, publicKeyFromJwk } from '@meterlink/jws';
import { parseEimKeyCli } from './eim-key-cli';
import { FileEimKeyStore, nextKeyPath, rotateEimKeys } from './eim-key.store';

// The store's contract is about files (modes, races between processes): a temporary directory.
const freshDir = (): string => mkdtempSync(join(tmpdir(), 'eim-key-spec-'));
const mode = (path: string): number => statSync(path).mode & 0o777;
const loaded = async (path: string, next?: string): Promise<FileEimKeyStore> => {
  const store = new FileEimKeyStore(path, next);
  await store.load();
  return store;
};

describe('FileEimKeyStore', () => {
  it('generates the current and the next key once, as mode-600 files', async () => {
    const path = join(freshDir(), 'keys', 'eim-key.json');
    const first = await loaded(path);
    const next = nextKeyPath(path);
    expect(next).toBe(path.replace(/eim-key\.json$/, 'eim-key.next.json'));
    expect(mode(path)).toBe(0o600);
    expect(mode(next)).toBe(0o600);
    const files = { current: readFileSync(path, 'utf8'), next: readFileSync(next, 'utf8') };

    const again = await loaded(path);
    expect(again.jwks()).toEqual(first.jwks());
    expect(again.current().kid).toBe(first.current().kid);
    expect({ current: readFileSync(path, 'utf8'), next: readFileSync(next, 'utf8') }).toEqual(
      files,
    );
    // Nothing left behind by the writes.
    expect(readdirSync(join(path, '..')).sort()).toEqual(['eim-key.json', 'eim-key.next.json']);
  });

  it('publishes the current key first, then the next one, public halves only', async () => {
    const store = await loaded(join(freshDir(), 'eim-key.json'));
    const { keys } = store.jwks();
    expect(keys).toHaveLength(2);
    expect(keys[0]!.kid).toBe(store.current().kid);
    expect(keys[1]!.kid).not.toBe(keys[0]!.kid);
    expect(keys[1]!.x).not.toBe(keys[0]!.x);
    for (const key of keys) {
      expect(Object.keys(key).sort()).toEqual(['crv', 'kid', 'kty', 'x', 'y']);
      expect(key.kid).toMatch(/^eim-\d{4}-\d{2}-\d{2}-/);
    }
    // The current key's public half verifies what the store signs.
    const jws = signCompact({ n: 1 }, store.current().privateKey, store.current().kid);
    expect(verifyCompact(jws, publicKeyFromJwk(keys[0]!), keys[0]!.kid).ok).toBe(true);
  });

  it('agrees with every other instance that raced it on an empty directory', async () => {
    const path = join(freshDir(), 'eim-key.json');
    const stores = Array.from({ length: 8 }, () => new FileEimKeyStore(path));
    await Promise.all(stores.map((s) => s.load()));
    const published = stores.map((s) => JSON.stringify(s.jwks()));
    expect(new Set(published).size).toBe(1);
    expect(stores[0]!.jwks().keys).toHaveLength(2);
    expect(readdirSync(join(path, '..')).sort()).toEqual(['eim-key.json', 'eim-key.next.json']);
  });

  it('keeps an existing current key and adds a next key beside it', async () => {
    const dir = freshDir();
    const path = join(dir, 'eim-key.json');
    const { privateJwk } = generateEcKeyPair();
    writeFileSync(path, JSON.stringify({ ...privateJwk, kid: 'eim-factory-1' }), { mode: 0o600 });
    const store = await loaded(path, join(dir, 'elsewhere.json'));
    expect(store.current().kid).toBe('eim-factory-1');
    expect(store.jwks().keys.map((k) => k.kid)).toEqual([
      'eim-factory-1',
      expect.stringMatching(/^eim-/),
    ]);
    expect(mode(join(dir, 'elsewhere.json'))).toBe(0o600);
  });

  it('refuses a key file without kid or private part', async () => {
    const dir = freshDir();
    const { privateJwk, publicJwk } = generateEcKeyPair();
    writeFileSync(join(dir, 'a.json'), JSON.stringify(privateJwk));
    await expect(loaded(join(dir, 'a.json'))).rejects.toThrow(/has no kid/);
    writeFileSync(join(dir, 'b.json'), JSON.stringify({ ...publicJwk, kid: 'k' }));
    await expect(loaded(join(dir, 'b.json'))).rejects.toThrow(/not a private key/);
  });

  it('rotates: next becomes current, a new next is generated, the old current is kept aside', async () => {
    const dir = freshDir();
    const path = join(dir, 'eim-key.json');
    const before = (await loaded(path)).jwks().keys;

    const rotated = await rotateEimKeys(path);
    expect(rotated).toMatchObject({ retiredKid: before[0]!.kid, currentKid: before[1]!.kid });
    const after = await loaded(path);
    expect(after.current().kid).toBe(before[1]!.kid);
    const keys = after.jwks().keys;
    expect(keys[0]).toEqual(before[1]);
    expect(keys[1]!.kid).toBe(rotated.nextKid);
    expect(before.map((k) => k.kid)).not.toContain(rotated.nextKid);
    expect(mode(path)).toBe(0o600);
    expect(mode(nextKeyPath(path))).toBe(0o600);
    expect(mode(rotated.retiredPath)).toBe(0o600);
    expect(JSON.parse(readFileSync(rotated.retiredPath, 'utf8'))).toMatchObject(before[0]!);
    // Packages now verify with the key meters made before the rotation received as "next".
    const jws = signCompact({ n: 2 }, after.current().privateKey, after.current().kid);
    expect(verifyCompact(jws, publicKeyFromJwk(before[1]!), before[1]!.kid).ok).toBe(true);
  });

  it('refuses to rotate without a next key to promote', async () => {
    const dir = freshDir();
    const path = join(dir, 'eim-key.json');
    const { privateJwk } = generateEcKeyPair();
    writeFileSync(path, JSON.stringify({ ...privateJwk, kid: 'only' }), { mode: 0o600 });
    await expect(rotateEimKeys(path)).rejects.toThrow(/no next eIM key/);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toMatchObject({ kid: 'only' });
  });
});

describe('eim-keys command line', () => {
  it('takes the key files from options, else the environment, else beside the key file', () => {
    expect(parseEimKeyCli(['rotate'], { EIM_KEY_FILE: '/k/eim-key.json' })).toEqual({
      command: 'rotate',
      keyFile: '/k/eim-key.json',
      nextKeyFile: '/k/eim-key.next.json',
    });
    expect(
      parseEimKeyCli(['jwks', '--key-file', '/a', '--next-key-file', '/b'], {
        EIM_KEY_FILE: '/k/eim-key.json',
        EIM_NEXT_KEY_FILE: '/k/n.json',
      }),
    ).toEqual({ command: 'jwks', keyFile: '/a', nextKeyFile: '/b' });
    expect(parseEimKeyCli(['jwks'], { EIM_KEY_FILE: '/k/key', EIM_NEXT_KEY_FILE: '/n' })).toEqual({
      command: 'jwks',
      keyFile: '/k/key',
      nextKeyFile: '/n',
    });
    expect(parseEimKeyCli(['jwks'], { EIM_KEY_FILE: '/k/key' }).nextKeyFile).toBe('/k/key.next');
  });

  it('refuses a missing command or key file', () => {
    expect(() => parseEimKeyCli([], { EIM_KEY_FILE: '/k' })).toThrow(/command is required/);
    expect(() => parseEimKeyCli(['promote'], { EIM_KEY_FILE: '/k' })).toThrow(/unknown command/);
    expect(() => parseEimKeyCli(['rotate'], {})).toThrow(/EIM_KEY_FILE is required/);
  });
});
