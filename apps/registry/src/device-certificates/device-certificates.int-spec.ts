import { createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import mqtt, { type MqttClient } from 'mqtt';
import { TOPICS, type MeterReadingRecord } from '@meterlink/contracts';
import { ECDSA_P256, nodeCrypto, x509 } from '@meterlink/device-pki';
import { createKafka } from '@meterlink/kafka';
import {
  Platform,
  TEST_CATALOGUE,
  TopicRecorder,
  dynsecAdmin,
  eventually,
  infraEnv,
  manifestOf,
  stackVariables,
  telemetryMessage,
  testMeters,
  type TestMeter,
} from '@meterlink/testing';

const PKI_VARIABLES = [
  'MQTT_TLS_URL',
  'MQTT_CA_FILE',
  'DEVICE_CA_DIR',
  'DEVICE_CRL_FILE',
  'MQTT_BROKER_PID_FILE',
] as const;

interface MeterKey {
  keyPem: string;
  csrPem: string;
}

/** What a meter's firmware (or its factory station) does: a P-256 key that stays, and a CSR. */
async function meterKey(commonName: string): Promise<MeterKey> {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const keys = {
    privateKey: await nodeCrypto.subtle.importKey(
      'pkcs8',
      privateKey.export({ format: 'der', type: 'pkcs8' }),
      ECDSA_P256,
      false,
      ['sign'],
    ),
    publicKey: await nodeCrypto.subtle.importKey(
      'spki',
      createPublicKey(privateKey).export({ format: 'der', type: 'spki' }),
      ECDSA_P256,
      true,
      ['verify'],
    ),
  };
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${commonName}`,
    keys,
    signingAlgorithm: ECDSA_P256,
  });
  return {
    keyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    csrPem: csr.toString('pem'),
  };
}

/** The broker's TLS alert for a certificate in its CRL, as Node reports it. */
const REVOKED = { code: 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED' };

interface Issued {
  serialNumber: string;
  certificatePem: string;
  caCertificatePem: string;
  notAfter: string;
}

/**
 * The registry as the device CA over real PostgreSQL and Mosquitto: certificates for registered
 * meters only, CN = meterId, honoured by the broker's TLS listener with the meter's own ACL, and
 * revocation that the broker enforces through the CRL.
 */
describe('device certificates and the broker TLS listener', () => {
  const infra = infraEnv();
  const pki = stackVariables(PKI_VARIABLES);
  const caPem = readFileSync(pki.MQTT_CA_FILE, 'utf8');
  const viewerToken = randomBytes(20).toString('hex');
  const operatorToken = randomBytes(20).toString('hex');
  const platform = new Platform({
    infra,
    basePort: 4601,
    services: ['registry', 'ingestion'],
    logTag: 'int-device-pki',
    extraApiTokens: [`${viewerToken}:viewer`, `${operatorToken}:operator`],
    extraEnv: {
      registry: {
        DEVICE_CA_DIR: pki.DEVICE_CA_DIR,
        DEVICE_CRL_FILE: pki.DEVICE_CRL_FILE,
        MQTT_BROKER_PID_FILE: pki.MQTT_BROKER_PID_FILE,
        DEVICE_CERT_VALIDITY_DAYS: '2',
      },
    },
  });
  const kafka = createKafka({
    brokers: infra.KAFKA_BROKERS.split(','),
    clientId: 'int-device-pki',
  });
  const recorder = new TopicRecorder(kafka, [TOPICS.meterReadings.name]);
  const [alice, bob, carol, dave] = testMeters(4);
  const clients: MqttClient[] = [];
  const registry = (): string => platform.service('registry').baseUrl;

  const call = (method: string, path: string, body?: unknown, token = platform.adminToken) =>
    fetch(`${registry()}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  const issue = async (meter: TestMeter, key: MeterKey): Promise<Issued> => {
    const res = await call('POST', `/v1/meters/${meter.line.meterId}/certificates`, {
      csr: key.csrPem,
    });
    expect(res.status).toBe(201);
    return (await res.json()) as Issued;
  };

  const connectTls = async (meter: TestMeter, key: MeterKey, cert: Issued): Promise<MqttClient> => {
    const client = await mqtt.connectAsync(
      pki.MQTT_TLS_URL,
      {
        clientId: meter.line.meterId,
        key: key.keyPem,
        cert: cert.certificatePem,
        ca: caPem,
        protocolVersion: 5,
        clean: true,
        reconnectPeriod: 0,
        connectTimeout: 5_000,
      },
      false,
    );
    clients.push(client);
    return client;
  };

  const up = (meter: TestMeter): string => `mtr/v1/${meter.line.meterId}/up/telemetry`;
  const crlNow = async (): Promise<x509.X509Crl> => {
    const res = await fetch(`${registry()}/v1/pki/crl.pem`);
    expect(res.status).toBe(200);
    return new x509.X509Crl(await res.text());
  };

  beforeAll(async () => {
    await recorder.start();
    await platform.start();
    await platform.importCatalogue(TEST_CATALOGUE);
    const report = await platform.importManifest({
      ndjson: manifestOf([alice!, bob!, carol!, dave!]),
    });
    expect(report).toMatchObject({ imported: 4, rejected: 0 });
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    await recorder.stop();
    await platform.stop();
  });

  it('publishes the device CA certificate and the CRL without authentication', async () => {
    const ca = await fetch(`${registry()}/v1/pki/ca.pem`);
    expect(ca.status).toBe(200);
    // The registry signs with the CA the broker trusts.
    expect(new x509.X509Certificate(await ca.text()).equal(new x509.X509Certificate(caPem))).toBe(
      true,
    );
    const crl = await crlNow();
    expect(crl.issuer).toBe(new x509.X509Certificate(caPem).subject);
    expect(crl.nextUpdate!.getTime()).toBeGreaterThan(Date.now() + 3_600_000);
    // The broker reads the same CRL from its crlfile.
    expect(new x509.X509Crl(readFileSync(pki.DEVICE_CRL_FILE, 'utf8')).thisUpdate).toEqual(
      crl.thisUpdate,
    );
  });

  it('refuses a CSR whose CN is another meter with 422, and an unknown meter with 404', async () => {
    const wrongCn = await meterKey(bob!.line.meterId);
    const res = await call('POST', `/v1/meters/${alice!.line.meterId}/certificates`, {
      csr: wrongCn.csrPem,
    });
    expect(res.status).toBe(422);
    expect(await res.json()).toMatchObject({ code: 'csr_subject_mismatch' });
    const garbage = await call('POST', `/v1/meters/${alice!.line.meterId}/certificates`, {
      csr: 'not a csr',
    });
    expect(garbage.status).toBe(400);
    const unknown = await meterKey('T-nobody-0');
    expect(
      (await call('POST', '/v1/meters/T-nobody-0/certificates', { csr: unknown.csrPem })).status,
    ).toBe(404);
    const list = (await (
      await call('GET', `/v1/meters/${alice!.line.meterId}/certificates`)
    ).json()) as { certificates: unknown[] };
    expect(list.certificates).toEqual([]);
  });

  it('issues no certificate whose CN is a service identity of the broker (409)', async () => {
    // A broker client that is not a meter's, as the ingestion service's is; and a meter that a
    // manifest gave the same name.
    const [service] = testMeters(1);
    const serviceName = service!.line.meterId;
    const created = await dynsecAdmin(infra, [
      { command: 'createClient', username: serviceName, password: randomBytes(18).toString('hex') },
    ]);
    expect(created[0]?.error).toBeUndefined();
    try {
      expect(await platform.importManifest({ ndjson: manifestOf([service!]) })).toMatchObject({
        imported: 1,
      });
      const key = await meterKey(serviceName);
      const res = await call('POST', `/v1/meters/${serviceName}/certificates`, { csr: key.csrPem });
      expect(res.status).toBe(409);
      expect(await res.json()).toMatchObject({ code: 'meter_id_reserved' });
    } finally {
      await dynsecAdmin(infra, [{ command: 'deleteClient', username: serviceName }]);
      await call('POST', `/v1/meters/${serviceName}/decommission`);
    }
  });

  it('lets a meter with its certificate publish over TLS: PUBACKed and in Kafka for its own topic, refused (135) on another meter’s', async () => {
    const key = await meterKey(alice!.line.meterId);
    const cert = await issue(alice!, key);
    const issued = new x509.X509Certificate(cert.certificatePem);
    expect(issued.subject).toBe(`CN=${alice!.line.meterId}`);
    expect(new Date(cert.notAfter).getTime() - Date.now()).toBeLessThanOrEqual(2 * 86_400_000);
    const client = await connectTls(alice!, key, cert);
    await client.publishAsync(up(alice!), JSON.stringify(telemetryMessage(alice!, 1)), { qos: 1 });
    const reading = await eventually(
      () =>
        recorder
          .on<MeterReadingRecord>(
            TOPICS.meterReadings.name,
            (r) => r.meterId === alice!.line.meterId,
          )
          .find((r) => r.seq === 1),
      { timeoutMs: 20_000, what: 'the TLS meter’s reading in meter.readings.v1' },
    );
    expect(reading).toMatchObject({ meterId: alice!.line.meterId, seq: 1 });
    await expect(
      client.publishAsync(up(bob!), JSON.stringify(telemetryMessage(bob!, 1)), { qos: 1 }),
    ).rejects.toMatchObject({ code: 135 });
    // Without a client certificate the TLS handshake itself fails.
    await expect(
      mqtt.connectAsync(
        pki.MQTT_TLS_URL,
        { clientId: alice!.line.meterId, ca: caPem, protocolVersion: 5, reconnectPeriod: 0 },
        false,
      ),
    ).rejects.toMatchObject({ code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' });
  });

  it('refuses a revoked certificate at the broker and closes the connection it had open', async () => {
    const key = await meterKey(carol!.line.meterId);
    const cert = await issue(carol!, key);
    const client = await connectTls(carol!, key, cert);
    await client.publishAsync(up(carol!), JSON.stringify(telemetryMessage(carol!, 1)), { qos: 1 });
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));

    const res = await call('POST', `/v1/meters/${carol!.line.meterId}/certificates/revoke`, {
      reason: 'keyCompromise',
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ revoked: [cert.serialNumber] });
    await closed;
    expect((await crlNow()).findRevoked(cert.serialNumber)?.reason).toBe(
      x509.X509CrlReason.keyCompromise,
    );
    await expect(connectTls(carol!, key, cert)).rejects.toMatchObject(REVOKED);
    // The meter itself is not locked out: a new certificate works.
    const renewed = await meterKey(carol!.line.meterId);
    const fresh = await connectTls(carol!, renewed, await issue(carol!, renewed));
    await fresh.publishAsync(up(carol!), JSON.stringify(telemetryMessage(carol!, 2)), { qos: 1 });
    const listed = (await (
      await call('GET', `/v1/meters/${carol!.line.meterId}/certificates`)
    ).json()) as { certificates: { serialNumber: string; status: string }[] };
    expect(listed.certificates.map((c) => c.status).sort()).toEqual(['active', 'revoked']);
  });

  it('closes the TLS session of a decommissioned meter at once, revokes its certificates, issues it none, and keeps revocations across restarts', async () => {
    const key = await meterKey(dave!.line.meterId);
    const cert = await issue(dave!, key);
    const client = await connectTls(dave!, key, cert);
    await client.publishAsync(up(dave!), JSON.stringify(telemetryMessage(dave!, 1)), { qos: 1 });
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    const res = await call('POST', `/v1/meters/${dave!.line.meterId}/decommission`);
    expect(res.status).toBe(200);
    // The connection it had open does not outlive the decommission call's answer.
    await closed;
    expect((await crlNow()).findRevoked(cert.serialNumber)?.reason).toBe(
      x509.X509CrlReason.cessationOfOperation,
    );
    await expect(connectTls(dave!, key, cert)).rejects.toMatchObject(REVOKED);
    const again = await meterKey(dave!.line.meterId);
    expect(
      (
        await call('POST', `/v1/meters/${dave!.line.meterId}/certificates`, {
          csr: again.csrPem,
        })
      ).status,
    ).toBe(409);

    // The CRL is rebuilt from PostgreSQL at start: the revocation is still in it.
    const registryProcess = platform.service('registry');
    await registryProcess.stop();
    await registryProcess.start();
    expect((await crlNow()).findRevoked(cert.serialNumber)).not.toBeNull();
    await expect(connectTls(dave!, key, cert)).rejects.toMatchObject(REVOKED);
  });

  it('needs the admin role to issue and the operator role to revoke', async () => {
    const key = await meterKey(bob!.line.meterId);
    const path = `/v1/meters/${bob!.line.meterId}/certificates`;
    const anonymous = await fetch(`${registry()}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ csr: key.csrPem }),
    });
    expect(anonymous.status).toBe(401);
    expect((await call('POST', path, { csr: key.csrPem }, operatorToken)).status).toBe(403);
    expect((await call('POST', `${path}/revoke`, {}, viewerToken)).status).toBe(403);
    expect((await call('GET', path, undefined, viewerToken)).status).toBe(200);
    expect((await call('POST', `${path}/revoke`, {}, operatorToken)).status).toBe(200);
  });
});
