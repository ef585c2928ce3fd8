import { generateKeyPairSync } from 'node:crypto';
import { x509 } from './x509';
import {
  ECDSA_P256,
  buildCrl,
  caKeyId,
  createCaCertificate,
  crlToPem,
  derInteger,
  issueMeterCertificate,
  issueServerCertificate,
  nodeCrypto,
  normaliseSerial,
  randomSerialNumber,
  readMeterCsr,
  type SigningCa,
} from './certificates';
import { DevicePkiError } from './device-pki.error';

const NOW = new Date('2026-03-01T12:00:00Z');

async function newCa(validityDays = 3650): Promise<SigningCa> {
  const keys = await nodeCrypto.subtle.generateKey(ECDSA_P256, false, ['sign', 'verify']);
  const certificate = await createCaCertificate({
    keys,
    commonName: 'test device CA',
    validityDays,
    now: NOW,
  });
  return { certificate, signingKey: keys.privateKey, crypto: nodeCrypto };
}

async function csrFor(
  name: string,
  algorithm: webcrypto_EcOrRsa = ECDSA_P256,
): Promise<{ pem: string; keys: CryptoKeyPairLike }> {
  const keys = (await nodeCrypto.subtle.generateKey(algorithm, true, [
    'sign',
    'verify',
  ])) as CryptoKeyPairLike;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name,
    keys,
    signingAlgorithm: algorithm,
  });
  return { pem: csr.toString('pem'), keys };
}
type webcrypto_EcOrRsa = Parameters<typeof nodeCrypto.subtle.generateKey>[0];
type CryptoKeyPairLike = Awaited<ReturnType<typeof nodeCrypto.subtle.generateKey>> & {
  privateKey: unknown;
  publicKey: unknown;
};

const codeOf = async (promise: Promise<unknown>): Promise<string> => {
  try {
    await promise;
    return 'accepted';
  } catch (error) {
    return error instanceof DevicePkiError ? error.code : `unexpected: ${String(error)}`;
  }
};

describe('device CA certificates', () => {
  it('creates a self-signed CA that may sign certificates and CRLs only, and nothing below it', async () => {
    const ca = await newCa();
    const cert = ca.certificate;
    expect(cert.subject).toBe('CN=test device CA');
    expect(await cert.isSelfSigned(nodeCrypto)).toBe(true);
    const constraints = cert.getExtension(x509.BasicConstraintsExtension);
    expect(constraints).toMatchObject({ ca: true, pathLength: 0, critical: true });
    const usages = cert.getExtension(x509.KeyUsagesExtension)!;
    expect(usages.usages).toBe(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
    expect(caKeyId(cert)).toMatch(/^[0-9a-f]{40}$/);
  });

  it('issues a client certificate with CN = meterId for a CSR signed by its own P-256 key', async () => {
    const ca = await newCa();
    const { pem } = await csrFor('CN=EM-0000001');
    const publicKey = await readMeterCsr(pem, 'EM-0000001');
    const cert = await issueMeterCertificate({
      ca,
      meterId: 'EM-0000001',
      publicKey,
      validityDays: 30,
      now: NOW,
    });
    expect(cert.subject).toBe('CN=EM-0000001');
    expect(cert.issuer).toBe(ca.certificate.subject);
    expect(await cert.verify({ publicKey: ca.certificate, date: NOW }, nodeCrypto)).toBe(true);
    expect(cert.notAfter.getTime() - NOW.getTime()).toBe(30 * 86_400_000);
    expect(cert.notBefore.getTime()).toBeLessThan(NOW.getTime());
    expect(Buffer.from(cert.publicKey.rawData).equals(Buffer.from(publicKey.rawData))).toBe(true);
    expect(cert.getExtension(x509.BasicConstraintsExtension)?.ca).toBe(false);
    expect(cert.getExtension(x509.ExtendedKeyUsageExtension)?.usages).toEqual([
      x509.ExtendedKeyUsage.clientAuth,
    ]);
    expect(cert.getExtension(x509.KeyUsagesExtension)?.usages).toBe(
      x509.KeyUsageFlags.digitalSignature,
    );
    expect(cert.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId).toBe(
      caKeyId(ca.certificate),
    );
  });

  it('never lets a meter certificate outlive the CA', async () => {
    const ca = await newCa(10);
    const { pem } = await csrFor('CN=EM-0000002');
    const cert = await issueMeterCertificate({
      ca,
      meterId: 'EM-0000002',
      publicKey: await readMeterCsr(pem, 'EM-0000002'),
      validityDays: 365,
      now: NOW,
    });
    expect(cert.notAfter.getTime()).toBe(ca.certificate.notAfter.getTime());
  });

  it('refuses a CSR whose CN is another meter, or that has two CNs', async () => {
    const other = await csrFor('CN=EM-0000009');
    expect(await codeOf(readMeterCsr(other.pem, 'EM-0000001'))).toBe('csr_subject_mismatch');
    const two = await csrFor('CN=EM-0000001, CN=EM-0000009');
    expect(await codeOf(readMeterCsr(two.pem, 'EM-0000001'))).toBe('csr_subject_mismatch');
    const none = await csrFor('O=meterlink');
    expect(await codeOf(readMeterCsr(none.pem, 'EM-0000001'))).toBe('csr_subject_mismatch');
  });

  it('refuses a CSR that is not signed by the key it carries', async () => {
    const good = await csrFor('CN=EM-0000001');
    const csr = new x509.Pkcs10CertificateRequest(good.pem);
    const der = Buffer.from(csr.rawData);
    // The signature is the last bytes of the DER: flip one of them.
    der[der.length - 3] = der[der.length - 3]! ^ 0xff;
    const tampered = x509.PemConverter.encode(der, 'CERTIFICATE REQUEST');
    expect(await codeOf(readMeterCsr(tampered, 'EM-0000001'))).toBe('csr_bad_signature');
  });

  it('refuses keys other than ECDSA P-256, and input that is no CSR', async () => {
    const p384 = await csrFor('CN=EM-0000001', {
      name: 'ECDSA',
      namedCurve: 'P-384',
      hash: 'SHA-384',
    } as webcrypto_EcOrRsa);
    expect(await codeOf(readMeterCsr(p384.pem, 'EM-0000001'))).toBe('csr_unsupported_key');
    const rsa = await csrFor('CN=EM-0000001', {
      name: 'RSASSA-PKCS1-v1_5',
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: 'SHA-256',
    } as webcrypto_EcOrRsa);
    expect(await codeOf(readMeterCsr(rsa.pem, 'EM-0000001'))).toBe('csr_unsupported_key');
    expect(await codeOf(readMeterCsr('hello', 'EM-0000001'))).toBe('csr_malformed');
    expect(
      await codeOf(
        readMeterCsr(
          '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----',
          'EM-0000001',
        ),
      ),
    ).toBe('csr_malformed');
  });

  it('issues the broker a server certificate for its DNS names and IP addresses', async () => {
    const ca = await newCa();
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const cert = await issueServerCertificate({
      ca,
      publicKey: new x509.PublicKey(publicKey.export({ format: 'der', type: 'spki' })),
      names: ['localhost', '127.0.0.1', 'mqtt.example.internal'],
      validityDays: 397,
      now: NOW,
    });
    expect(cert.subject).toBe('CN=localhost');
    const san = cert.getExtension(x509.SubjectAlternativeNameExtension)!;
    expect(san.names.toJSON()).toEqual([
      { type: 'dns', value: 'localhost' },
      { type: 'ip', value: '127.0.0.1' },
      { type: 'dns', value: 'mqtt.example.internal' },
    ]);
    expect(cert.getExtension(x509.ExtendedKeyUsageExtension)?.usages).toEqual([
      x509.ExtendedKeyUsage.serverAuth,
    ]);
    expect(await cert.verify({ publicKey: ca.certificate, date: NOW }, nodeCrypto)).toBe(true);
  });

  it('makes random, positive, 16-octet serial numbers', () => {
    const serials = new Set(Array.from({ length: 2_000 }, () => randomSerialNumber()));
    expect(serials.size).toBe(2_000);
    for (const s of serials) expect(s).toMatch(/^[4-7][0-9a-f]{31}$/);
    expect(normaliseSerial('00:0A:1B')).toBe('0a1b');
    expect(normaliseSerial('ABC')).toBe('0abc');
  });

  it('encodes CRL numbers as minimal DER integers', () => {
    expect(Buffer.from(derInteger(0n)).toString('hex')).toBe('020100');
    expect(Buffer.from(derInteger(127n)).toString('hex')).toBe('02017f');
    expect(Buffer.from(derInteger(128n)).toString('hex')).toBe('02020080');
    expect(Buffer.from(derInteger(65_537n)).toString('hex')).toBe('0203010001');
  });

  it('builds a CRL signed by the CA that lists the revoked serials with their reasons', async () => {
    const ca = await newCa();
    const serial = randomSerialNumber();
    const crl = await buildCrl({
      ca,
      entries: [
        { serialNumber: serial, revokedAt: NOW, reason: 'keyCompromise' },
        { serialNumber: '0A1B', revokedAt: NOW, reason: 'cessationOfOperation' },
      ],
      crlNumber: 42n,
      thisUpdate: NOW,
      nextUpdate: new Date(NOW.getTime() + 7 * 86_400_000),
    });
    expect(await crl.verify({ publicKey: ca.certificate }, nodeCrypto)).toBe(true);
    expect(crl.issuer).toBe(ca.certificate.subject);
    expect(crl.nextUpdate?.toISOString()).toBe('2026-03-08T12:00:00.000Z');
    expect(crl.findRevoked(serial)?.reason).toBe(x509.X509CrlReason.keyCompromise);
    expect(crl.findRevoked('0a1b')?.reason).toBe(x509.X509CrlReason.cessationOfOperation);
    expect(crl.findRevoked(randomSerialNumber())).toBeNull();
    const number = crl.getExtension('2.5.29.20')!;
    expect(Buffer.from(number.value).toString('hex')).toBe('02012a');
    const pem = crlToPem(crl);
    expect(pem.startsWith('-----BEGIN X509 CRL-----')).toBe(true);
    expect(new x509.X509Crl(pem).entries).toHaveLength(2);
  });
});
