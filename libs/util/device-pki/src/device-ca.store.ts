import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { x509 } from './x509';
import {
  ECDSA_P256,
  caKeyId,
  createCaCertificate,
  nodeCrypto,
  type SigningCa,
  type WebCryptoKey,
} from './certificates';
import { DevicePkiError } from './device-pki.error';

/**
 * The device CA behind a small interface: files today (key mode 600), a KMS or HSM later. Such a
 * store returns a non-extractable key of its own WebCrypto provider; nothing else changes.
 */
export interface DeviceCaStore {
  /** The CA that signs now. */
  current(): SigningCa;
}

export const CA_KEY_FILE = 'ca.key.pem';
export const CA_CERT_FILE = 'ca.cert.pem';

export interface FileDeviceCaStoreOptions {
  /** Create a CA when the directory holds none (true), or refuse to start (false). */
  createIfMissing: boolean;
  /** Subject CN of a CA created here. */
  commonName: string;
  validityDays: number;
}

export type CaLoadResult = { created: boolean; keyId: string; notAfter: Date };

async function exists(path: string): Promise<boolean> {
  return access(path, constants.F_OK).then(
    () => true,
    () => false,
  );
}

/** Imports a PEM private key (PKCS#8 or SEC1, as openssl writes either) as a signing-only CryptoKey. */
async function importSigningKey(key: KeyObject): Promise<WebCryptoKey> {
  const pkcs8 = key.export({ format: 'der', type: 'pkcs8' });
  return nodeCrypto.subtle.importKey('pkcs8', pkcs8, ECDSA_P256, false, ['sign']);
}

/**
 * `ca.key.pem` (PKCS#8 or SEC1 PEM, mode 600) and `ca.cert.pem` in one directory. Both are created
 * on first start when absent; `tools/stack/stack.sh` and the PKI CLI write the same layout.
 */
export class FileDeviceCaStore implements DeviceCaStore {
  private ca: SigningCa | undefined;

  constructor(
    readonly dir: string,
    private readonly options: FileDeviceCaStoreOptions,
  ) {}

  get keyFile(): string {
    return join(this.dir, CA_KEY_FILE);
  }
  get certFile(): string {
    return join(this.dir, CA_CERT_FILE);
  }

  async load(now = new Date()): Promise<CaLoadResult> {
    const [hasKey, hasCert] = await Promise.all([exists(this.keyFile), exists(this.certFile)]);
    let created = false;
    if (!hasKey && !hasCert) {
      if (!this.options.createIfMissing)
        throw new DevicePkiError('ca_invalid', `no device CA in ${this.dir}`);
      await this.create(now);
      created = true;
    } else if (!hasKey || !hasCert) {
      // Half a CA is an operator mistake (or a crash mid-creation): never overwrite the half left.
      throw new DevicePkiError(
        'ca_invalid',
        `${this.dir} holds ${hasKey ? CA_KEY_FILE : CA_CERT_FILE} without ${hasKey ? CA_CERT_FILE : CA_KEY_FILE}`,
      );
    }
    // Others must not read the key. Group read is left allowed: a Kubernetes Secret volume hands a
    // non-root pod its files as root:fsGroup with mode 0440.
    const mode = (await stat(this.keyFile)).mode;
    if (mode & 0o007)
      throw new DevicePkiError(
        'ca_invalid',
        `${this.keyFile} is readable by others (mode ${(mode & 0o777).toString(8)}); chmod 600 it`,
      );
    this.ca = await this.read(now);
    return { created, keyId: caKeyId(this.ca.certificate), notAfter: this.ca.certificate.notAfter };
  }

  current(): SigningCa {
    if (!this.ca) throw new Error('device CA not loaded');
    return this.ca;
  }

  private async create(now: Date): Promise<void> {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const signingKey = await importSigningKey(privateKey);
    const publicKey = await nodeCrypto.subtle.importKey(
      'spki',
      createPublicKey(privateKey).export({ format: 'der', type: 'spki' }),
      ECDSA_P256,
      true,
      ['verify'],
    );
    const certificate = await createCaCertificate({
      keys: { privateKey: signingKey, publicKey },
      commonName: this.options.commonName,
      validityDays: this.options.validityDays,
      now,
    });
    await mkdir(this.dir, { recursive: true, mode: 0o755 });
    // The certificate goes in place last, so a crash leaves the "key without certificate" case
    // that load() refuses, never a certificate whose key was lost.
    const tmpCert = `${this.certFile}.${process.pid}.tmp`;
    await writeFile(tmpCert, certificate.toString('pem'), { mode: 0o644 });
    await writeFile(this.keyFile, privateKey.export({ format: 'pem', type: 'pkcs8' }), {
      mode: 0o600,
      flag: 'wx',
    });
    await rename(tmpCert, this.certFile);
  }

  private async read(now: Date): Promise<SigningCa> {
    let certificate: x509.X509Certificate;
    let key: KeyObject;
    try {
      certificate = new x509.X509Certificate(await readFile(this.certFile, 'utf8'));
    } catch {
      throw new DevicePkiError('ca_invalid', `${this.certFile} is not a PEM certificate`);
    }
    try {
      key = createPrivateKey(await readFile(this.keyFile, 'utf8'));
    } catch {
      throw new DevicePkiError('ca_invalid', `${this.keyFile} is not a PEM private key`);
    }
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1')
      throw new DevicePkiError('ca_invalid', 'the device CA key must be ECDSA P-256');
    const constraints = certificate.getExtension(x509.BasicConstraintsExtension);
    if (!constraints?.ca)
      throw new DevicePkiError(
        'ca_invalid',
        'the device CA certificate is not a CA (basicConstraints)',
      );
    const usages = certificate.getExtension(x509.KeyUsagesExtension);
    const needed = x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign;
    if (usages && (usages.usages & needed) !== needed)
      throw new DevicePkiError('ca_invalid', 'the device CA may not sign certificates and CRLs');
    if (certificate.notAfter <= now)
      throw new DevicePkiError(
        'ca_invalid',
        `the device CA expired at ${certificate.notAfter.toISOString()}`,
      );
    caKeyId(certificate);
    const signingKey = await importSigningKey(key);
    // The key must be the certificate's: sign a challenge and verify it with the certificate.
    const challenge = Buffer.from(`device-ca-check-${Date.now()}`);
    const signature = await nodeCrypto.subtle.sign(ECDSA_P256, signingKey, challenge);
    const verifier = await nodeCrypto.subtle.importKey(
      'spki',
      certificate.publicKey.rawData,
      ECDSA_P256,
      false,
      ['verify'],
    );
    if (!(await nodeCrypto.subtle.verify(ECDSA_P256, verifier, signature, challenge)))
      throw new DevicePkiError('ca_invalid', `${this.keyFile} does not belong to ${this.certFile}`);
    return { certificate, signingKey, crypto: nodeCrypto };
  }
}
