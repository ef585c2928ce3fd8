import { createPublicKey, randomBytes, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import { x509 } from './x509';
import { DevicePkiError } from './device-pki.error';

/** WebCrypto types from Node (the project compiles without the DOM lib). */
export type WebCrypto = webcrypto.Crypto;
export type WebCryptoKey = webcrypto.CryptoKey;

export const nodeCrypto: WebCrypto = webcrypto;

/** Every key and signature of the device PKI: ECDSA P-256 with SHA-256. */
export const ECDSA_P256: webcrypto.EcKeyImportParams & webcrypto.EcdsaParams = {
  name: 'ECDSA',
  namedCurve: 'P-256',
  hash: 'SHA-256',
};

/** A CA that can sign: its certificate and a (possibly non-extractable, KMS- or HSM-held) key. */
export interface SigningCa {
  certificate: x509.X509Certificate;
  signingKey: WebCryptoKey;
  /** The WebCrypto the key belongs to (Node's for a file key; a PKCS#11 provider for an HSM). */
  crypto: WebCrypto;
}

export type RevocationReason =
  | 'unspecified'
  | 'keyCompromise'
  | 'affiliationChanged'
  | 'superseded'
  | 'cessationOfOperation'
  | 'privilegeWithdrawn';
export const REVOCATION_REASONS: readonly RevocationReason[] = [
  'unspecified',
  'keyCompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'privilegeWithdrawn',
];

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
/** notBefore is backdated by this much so a meter whose clock runs slightly behind accepts it. */
const CLOCK_SKEW_MS = 5 * MINUTE_MS;

/**
 * A fresh serial number: 128 random bits as lowercase hex (RFC 5280 allows up to 20 octets). The
 * first octet is kept in 0x40..0x7f, so the DER integer is positive and always 16 octets long.
 */
export function randomSerialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x3f) | 0x40;
  return bytes.toString('hex');
}

/** Canonical form of a serial number as certificates and CRLs print it: lowercase, no leading zeros. */
export function normaliseSerial(hex: string): string {
  const clean = hex.toLowerCase().replace(/[^0-9a-f]/g, '');
  const trimmed = clean.replace(/^0+(?=.)/, '');
  return trimmed.length % 2 === 0 ? trimmed : `0${trimmed}`;
}

/** PEM as OpenSSL (and so Mosquitto) reads it: `X509 CRL`, not the library's `CRL` label. */
export function crlToPem(crl: x509.X509Crl): string {
  return x509.PemConverter.encode(crl.rawData, 'X509 CRL');
}

export function certificateToPem(certificate: x509.X509Certificate): string {
  return certificate.toString('pem');
}

export async function sha256Fingerprint(certificate: x509.X509Certificate): Promise<string> {
  return Buffer.from(await certificate.getThumbprint('SHA-256', nodeCrypto)).toString('hex');
}

/** The CA's key identifier (its certificate's subjectKeyIdentifier), which names it in the database. */
export function caKeyId(ca: x509.X509Certificate): string {
  const ski = ca.getExtension(x509.SubjectKeyIdentifierExtension);
  if (!ski)
    throw new DevicePkiError('ca_invalid', 'the CA certificate has no subjectKeyIdentifier');
  return ski.keyId.toLowerCase();
}

function isP256(publicKey: x509.PublicKey): boolean {
  try {
    const key = createPublicKey({
      key: Buffer.from(publicKey.rawData),
      format: 'der',
      type: 'spki',
    });
    return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
  } catch {
    return false;
  }
}

function clampToCa(ca: SigningCa, notAfter: Date): Date {
  // A certificate must not outlive its issuer: validators would refuse it from then on anyway.
  return notAfter > ca.certificate.notAfter ? ca.certificate.notAfter : notAfter;
}

/** Self-signed CA certificate for an ECDSA P-256 key pair: may sign certificates and CRLs only. */
export async function createCaCertificate(params: {
  keys: webcrypto.CryptoKeyPair;
  commonName: string;
  validityDays: number;
  now?: Date;
  crypto?: WebCrypto;
}): Promise<x509.X509Certificate> {
  const now = params.now ?? new Date();
  const crypto = params.crypto ?? nodeCrypto;
  return x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: randomSerialNumber(),
      name: [{ CN: [params.commonName] }],
      keys: params.keys,
      signingAlgorithm: ECDSA_P256,
      notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
      notAfter: new Date(now.getTime() + params.validityDays * DAY_MS),
      extensions: [
        // pathLen 0: this CA issues end-entity certificates only, never another CA.
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
          true,
        ),
        await x509.SubjectKeyIdentifierExtension.create(params.keys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
}

/**
 * Reads a meter's PKCS#10 request and checks it: well formed, signed by the key it carries (the
 * meter holds that private key), ECDSA P-256, and a subject whose one CN is the meterId.
 */
export async function readMeterCsr(pem: string, meterId: string): Promise<x509.PublicKey> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(pem);
  } catch {
    throw new DevicePkiError('csr_malformed', 'not a PKCS#10 certificate request');
  }
  if (!isP256(csr.publicKey))
    throw new DevicePkiError('csr_unsupported_key', 'the key must be ECDSA P-256');
  let signed = false;
  try {
    signed = await csr.verify(nodeCrypto);
  } catch {
    signed = false;
  }
  if (!signed)
    throw new DevicePkiError('csr_bad_signature', 'the request is not signed by its own key');
  const commonNames = csr.subjectName.getField('CN');
  if (commonNames.length !== 1 || commonNames[0] !== meterId)
    throw new DevicePkiError(
      'csr_subject_mismatch',
      `the subject must have exactly one CN, equal to the meterId ${meterId}`,
    );
  return csr.publicKey;
}

/**
 * A meter's TLS client certificate: subject CN = meterId (the broker takes it as the username),
 * client authentication only, signed by the device CA.
 */
export async function issueMeterCertificate(params: {
  ca: SigningCa;
  meterId: string;
  publicKey: x509.PublicKey;
  validityDays: number;
  serialNumber?: string;
  now?: Date;
}): Promise<x509.X509Certificate> {
  const now = params.now ?? new Date();
  const { ca } = params;
  return x509.X509CertificateGenerator.create(
    {
      serialNumber: params.serialNumber ?? randomSerialNumber(),
      subject: [{ CN: [params.meterId] }],
      issuer: ca.certificate.subjectName,
      notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
      notAfter: clampToCa(ca, new Date(now.getTime() + params.validityDays * DAY_MS)),
      publicKey: params.publicKey,
      signingKey: ca.signingKey,
      signingAlgorithm: ECDSA_P256,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        // clientAuth only: a meter certificate cannot serve as a broker (server) certificate.
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth], false),
        await x509.SubjectKeyIdentifierExtension.create(params.publicKey, false, ca.crypto),
        await x509.AuthorityKeyIdentifierExtension.create(
          ca.certificate.publicKey,
          false,
          ca.crypto,
        ),
      ],
    },
    ca.crypto,
  );
}

/**
 * The broker's TLS server certificate: the given DNS names and IP addresses as subjectAltName
 * (clients match the host they dialled against these), server authentication only.
 */
export async function issueServerCertificate(params: {
  ca: SigningCa;
  publicKey: x509.PublicKey | WebCryptoKey;
  names: string[];
  validityDays: number;
  now?: Date;
}): Promise<x509.X509Certificate> {
  const now = params.now ?? new Date();
  const { ca } = params;
  if (params.names.length === 0) throw new Error('a server certificate needs at least one name');
  const altNames = params.names.map((name) =>
    isIP(name) ? { type: 'ip' as const, value: name } : { type: 'dns' as const, value: name },
  );
  const firstDns = params.names.find((n) => isIP(n) === 0) ?? params.names[0]!;
  return x509.X509CertificateGenerator.create(
    {
      serialNumber: randomSerialNumber(),
      subject: [{ CN: [firstDns] }],
      issuer: ca.certificate.subjectName,
      notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
      notAfter: clampToCa(ca, new Date(now.getTime() + params.validityDays * DAY_MS)),
      publicKey: params.publicKey,
      signingKey: ca.signingKey,
      signingAlgorithm: ECDSA_P256,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
        new x509.SubjectAlternativeNameExtension(altNames, false),
        await x509.SubjectKeyIdentifierExtension.create(params.publicKey, false, ca.crypto),
        await x509.AuthorityKeyIdentifierExtension.create(
          ca.certificate.publicKey,
          false,
          ca.crypto,
        ),
      ],
    },
    ca.crypto,
  );
}

/** DER INTEGER (tag, length, minimal big-endian two's complement) of a non-negative integer. */
export function derInteger(value: bigint): Uint8Array {
  if (value < 0n) throw new Error('negative integers are not used here');
  let hex = value.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let body = Buffer.from(hex, 'hex');
  if (body[0]! & 0x80) body = Buffer.concat([Buffer.from([0]), body]);
  if (body.length > 127) throw new Error('integer too large');
  return Uint8Array.from([0x02, body.length, ...body]);
}

const CRL_NUMBER_OID = '2.5.29.20';

export interface RevokedEntry {
  serialNumber: string;
  revokedAt: Date;
  reason: RevocationReason;
}

/**
 * A CRL (RFC 5280 v2) of the CA's revoked certificates. `crlNumber` must grow with every CRL the
 * CA issues. Validators refuse every certificate of this CA once `nextUpdate` has passed, so a
 * new CRL must be published before then.
 */
export async function buildCrl(params: {
  ca: SigningCa;
  entries: RevokedEntry[];
  crlNumber: bigint;
  thisUpdate: Date;
  nextUpdate: Date;
}): Promise<x509.X509Crl> {
  const { ca } = params;
  return x509.X509CrlGenerator.create(
    {
      issuer: ca.certificate.subjectName,
      thisUpdate: params.thisUpdate,
      nextUpdate: params.nextUpdate,
      signingKey: ca.signingKey,
      signingAlgorithm: ECDSA_P256,
      entries: params.entries.map((e) => ({
        serialNumber: normaliseSerial(e.serialNumber),
        revocationDate: e.revokedAt,
        reason: x509.X509CrlReason[e.reason],
      })),
      extensions: [
        await x509.AuthorityKeyIdentifierExtension.create(
          ca.certificate.publicKey,
          false,
          ca.crypto,
        ),
        new x509.Extension(CRL_NUMBER_OID, false, derInteger(params.crlNumber)),
      ],
    },
    ca.crypto,
  );
}
