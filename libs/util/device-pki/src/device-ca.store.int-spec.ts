import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { caKeyId } from './certificates';
import { CA_CERT_FILE, CA_KEY_FILE, FileDeviceCaStore } from './device-ca.store';
import { DevicePkiError } from './device-pki.error';

/** The file-backed device CA on a real file system (modes, half-written directories). */
describe('FileDeviceCaStore', () => {
  const dirs: string[] = [];
  const newDir = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'meterlink-device-ca-'));
    dirs.push(dir);
    return join(dir, 'ca');
  };
  const store = (dir: string, createIfMissing = true): FileDeviceCaStore =>
    new FileDeviceCaStore(dir, { createIfMissing, commonName: 'test device CA', validityDays: 30 });
  const codeOf = (error: unknown): string =>
    error instanceof DevicePkiError ? error.code : String(error);

  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('creates a CA on first start with the key at mode 600, and loads the same CA afterwards', async () => {
    const dir = newDir();
    const first = await store(dir).load();
    expect(first.created).toBe(true);
    expect(statSync(join(dir, CA_KEY_FILE)).mode & 0o777).toBe(0o600);
    const second = store(dir);
    const again = await second.load();
    expect(again).toMatchObject({ created: false, keyId: first.keyId });
    expect(caKeyId(second.current().certificate)).toBe(first.keyId);
    expect(second.current().certificate.subject).toBe('CN=test device CA');
  });

  it('refuses to create one when told not to', async () => {
    const error: unknown = await store(newDir(), false)
      .load()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(codeOf(error)).toBe('ca_invalid');
  });

  it('refuses a key that others may read', async () => {
    const dir = newDir();
    await store(dir).load();
    chmodSync(join(dir, CA_KEY_FILE), 0o644);
    await expect(store(dir).load()).rejects.toThrow(/readable by others/);
  });

  it('refuses half a CA and a key that is not the certificate’s, and never overwrites them', async () => {
    const dir = newDir();
    await store(dir).load();
    const cert = readFileSync(join(dir, CA_CERT_FILE), 'utf8');
    rmSync(join(dir, CA_CERT_FILE));
    await expect(store(dir).load()).rejects.toThrow(/without ca.cert.pem/);

    writeFileSync(join(dir, CA_CERT_FILE), cert);
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeFileSync(join(dir, CA_KEY_FILE), privateKey.export({ format: 'pem', type: 'pkcs8' }), {
      mode: 0o600,
    });
    await expect(store(dir).load()).rejects.toThrow(/does not belong/);
    expect(readFileSync(join(dir, CA_CERT_FILE), 'utf8')).toBe(cert);
  });
});
