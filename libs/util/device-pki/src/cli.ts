import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildCrl, certificateToPem, crlToPem, issueServerCertificate } from './certificates';
import { FileDeviceCaStore } from './device-ca.store';
import { x509 } from './x509';

const USAGE = `usage: node dist/libs/util/device-pki/src/cli.js init --ca-dir DIR --broker-dir DIR --names NAME,...
  Creates the device CA in --ca-dir when it holds none (ca.key.pem mode 600, ca.cert.pem), and
  the broker's TLS files in --broker-dir: ca.cert.pem, server.key.pem (mode 600) + server.cert.pem
  for --names (DNS names and IP addresses; renewed within 30 days of expiry or when the names
  change) and an empty crl.pem when there is none (the registry keeps it current from then on).
  Options: --ca-name CN (meterlink device CA), --server-days N (397), --crl-hours N (168).`;

const DAY_MS = 86_400_000;

async function writeAtomically(path: string, content: string, mode: number): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, content, { mode });
  await rename(tmp, path);
}

/** For deployments without the local stack: the broker's TLS files from the device CA. */
async function init(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      'ca-dir': { type: 'string' },
      'broker-dir': { type: 'string' },
      names: { type: 'string' },
      'ca-name': { type: 'string', default: 'meterlink device CA' },
      'server-days': { type: 'string', default: '397' },
      'crl-hours': { type: 'string', default: '168' },
    },
  });
  const caDir = values['ca-dir'];
  const brokerDir = values['broker-dir'];
  const names = (values.names ?? '').split(',').filter(Boolean);
  if (!caDir || !brokerDir || names.length === 0) throw new Error(USAGE);
  const store = new FileDeviceCaStore(caDir, {
    createIfMissing: true,
    commonName: values['ca-name'],
    validityDays: 3650,
  });
  const loaded = await store.load();
  const ca = store.current();
  process.stdout.write(`device CA ${loaded.created ? 'created' : 'found'} in ${caDir}\n`);

  await mkdir(brokerDir, { recursive: true, mode: 0o755 });
  await copyFile(store.certFile, join(brokerDir, 'ca.cert.pem'));
  const certFile = join(brokerDir, 'server.cert.pem');
  const namesFile = join(brokerDir, 'server.names');
  const current = existsSync(certFile)
    ? new x509.X509Certificate(await readFile(certFile, 'utf8'))
    : undefined;
  const sameNames =
    existsSync(namesFile) && (await readFile(namesFile, 'utf8')).trim() === names.join(',');
  if (
    !current ||
    !sameNames ||
    current.notAfter.getTime() - Date.now() < 30 * DAY_MS ||
    current.issuer !== ca.certificate.subject
  ) {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const certificate = await issueServerCertificate({
      ca,
      publicKey: new x509.PublicKey(
        createPublicKey(privateKey).export({ format: 'der', type: 'spki' }),
      ),
      names,
      validityDays: Number(values['server-days']),
    });
    await writeAtomically(
      join(brokerDir, 'server.key.pem'),
      privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
      0o600,
    );
    await writeAtomically(certFile, certificateToPem(certificate), 0o644);
    await writeAtomically(namesFile, `${names.join(',')}\n`, 0o644);
    process.stdout.write(`broker certificate issued for ${names.join(', ')}\n`);
  }
  const crlFile = join(brokerDir, 'crl.pem');
  if (!existsSync(crlFile)) {
    const now = new Date();
    const crl = await buildCrl({
      ca,
      entries: [],
      crlNumber: 1n,
      thisUpdate: now,
      nextUpdate: new Date(now.getTime() + Number(values['crl-hours']) * 3_600_000),
    });
    await writeAtomically(crlFile, crlToPem(crl), 0o644);
    process.stdout.write(`empty CRL written to ${crlFile}\n`);
  }
}

const [command, ...rest] = process.argv.slice(2);
(command === 'init' ? init(rest) : Promise.reject(new Error(USAGE))).catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
