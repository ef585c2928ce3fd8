import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { TOPICS } from '@meterlink/contracts';
import { createKafka } from '@meterlink/kafka';
import { createPool, type Pool } from '@meterlink/postgres';
import {
  Platform,
  REPO_ROOT,
  TEST_CATALOGUE,
  TopicRecorder,
  endOffsets,
  eventually,
  manifestOf,
  testMeters,
  infraEnv,
  type TestMeter,
} from '@meterlink/testing';

const connectAs = (url: string, meterId: string, password: string): Promise<mqtt.MqttClient> =>
  mqtt.connectAsync(url, {
    clientId: meterId,
    username: meterId,
    password,
    protocolVersion: 5,
    reconnectPeriod: 0,
  });

/** Each registry table's rows (as text) that contain `needle`, by table. */
async function tablesContaining(pool: Pool, needle: string): Promise<Record<string, number>> {
  const { rows: tables } = await pool.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = 'registry' AND table_type = 'BASE TABLE'`,
  );
  const found: Record<string, number> = {};
  for (const { table_name: table } of tables) {
    const { rows } = await pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM registry."${table}" t WHERE strpos(t::text, $1) > 0`,
      [needle],
    );
    if (Number(rows[0]!.n) > 0) found[table] = Number(rows[0]!.n);
  }
  return found;
}

/** The registry over real PostgreSQL, Kafka and Mosquitto. */
describe('registry manifest import', () => {
  const infra = infraEnv();
  const viewerToken = randomBytes(20).toString('hex');
  const platform = new Platform({
    infra,
    basePort: 4301,
    services: ['registry'],
    logTag: 'int-registry',
    extraApiTokens: [`${viewerToken}:viewer`],
    // One line per batch: lines of one manifest are stored by concurrent transactions.
    extraEnv: { registry: { IMPORT_BATCH_SIZE: '1' } },
  });
  const registry = (): string => platform.service('registry').baseUrl;
  const kafka = createKafka({ brokers: infra.KAFKA_BROKERS.split(','), clientId: 'int-import' });
  const recorder = new TopicRecorder(kafka, [TOPICS.fleetMeters.name]);
  let pool: Pool;

  beforeAll(async () => {
    pool = createPool(infra.DATABASE_URL, 'int-registry-import', 1);
    await platform.start();
    await platform.importCatalogue(TEST_CATALOGUE);
    await recorder.start();
  });
  afterAll(async () => {
    await recorder.stop();
    await platform.stop();
    await pool.end();
  });

  it('imports the valid lines, reports each invalid one with its number, and changes nothing the second time', async () => {
    const meters = testMeters(3);
    const lines = manifestOf(meters).trim().split('\n');
    const manifest =
      [
        lines[0],
        '{"meterId": "broken"',
        lines[1],
        JSON.stringify({ ...meters[2]!.line, eid: '123' }),
        lines[2],
      ].join('\n') + '\n';
    const first = await platform.importManifest({ ndjson: manifest });
    expect(first).toMatchObject({ imported: 3, unchanged: 0, rejected: 2 });
    expect(first.errors.map((e) => e.line)).toEqual([2, 4]);
    expect(first.errors[1]?.reason).toMatch(/eid/);
    const ids = meters.map((m) => m.line.meterId);
    await eventually(
      () =>
        recorder.on(TOPICS.fleetMeters.name, (r) => ids.includes(r.meterId as string)).length === 3,
      { timeoutMs: 20_000, what: 'the three new meters on fleet.meters.v1' },
    );
    const state = async (): Promise<string[]> =>
      (
        await pool.query<{ row: string }>(
          `SELECT concat_ws(' ', meter_id, revision, updated_at::text, broker_provisioned) AS row
           FROM registry.meters WHERE meter_id = ANY($1) ORDER BY meter_id`,
          [ids],
        )
      ).rows.map((r) => r.row);
    const before = await state();
    const offsetsBefore = await endOffsets(kafka, [TOPICS.fleetMeters.name]);

    const second = await platform.importManifest({ ndjson: manifest });
    expect(second).toMatchObject({ imported: 0, unchanged: 3, rejected: 2 });
    // Nothing changed: same revisions and update times, and not one record more on the fleet
    // topic (an import answers once what it published is in Kafka).
    expect(await state()).toEqual(before);
    expect(before).toHaveLength(3);
    expect(await endOffsets(kafka, [TOPICS.fleetMeters.name])).toEqual(offsetsBefore);

    // The clear-text password reached the platform once and is kept nowhere.
    const reports = [first, second] as unknown as { importId: string }[];
    const seen = [
      JSON.stringify(recorder.on(TOPICS.fleetMeters.name)),
      ...(await Promise.all(
        reports.flatMap(({ importId }) => [
          platform.registryGet(`/v1/imports/${importId}`),
          platform.registryGet(`/v1/imports/${importId}/errors`),
          platform.registryGet(`/v1/audit?subject=${importId}`),
        ]),
      ).then((answers) => answers.map((a) => JSON.stringify(a)))),
      JSON.stringify(first),
      JSON.stringify(second),
    ];
    expect(seen.join('')).toContain(ids[0]);
    const log = readFileSync(platform.service('registry').logFile, 'utf8');
    expect(log).toContain('manifest import finished');
    // The probe finds what is there: the meter's own row.
    expect(await tablesContaining(pool, ids[0]!)).toMatchObject({ meters: 1 });
    for (const meter of meters) {
      const password = meter.line.mqttPassword;
      expect(await tablesContaining(pool, password)).toEqual({});
      expect(seen.filter((text) => text.includes(password))).toEqual([]);
      expect(log.includes(password)).toBe(false);
    }
  });

  it('refuses unauthenticated and under-privileged calls', async () => {
    const post = (token?: string): Promise<Response> =>
      fetch(`${registry()}/v1/imports/manifest`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-ndjson',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: manifestOf(testMeters(1)),
      });
    expect((await post()).status).toBe(401);
    expect((await post('not-a-token-of-ours-at-all')).status).toBe(401);
    expect((await post(viewerToken)).status).toBe(403);
    const list = await fetch(`${registry()}/v1/meters?limit=1`, {
      headers: { authorization: `Bearer ${viewerToken}` },
    });
    expect(list.status).toBe(200);
    expect((await fetch(`${registry()}/health/ready`)).status).toBe(200);
  });

  it('lets a provisioned meter connect, and refuses it once decommissioned', async () => {
    const [meter] = testMeters(1);
    await platform.importManifest({ ndjson: manifestOf([meter!]) });
    const connect = (): Promise<mqtt.MqttClient> =>
      mqtt.connectAsync(infra.MQTT_URL, {
        clientId: meter!.line.meterId,
        username: meter!.line.meterId,
        password: meter!.line.mqttPassword,
        protocolVersion: 5,
        reconnectPeriod: 0,
      });
    const client = await connect();
    await client.endAsync();
    const res = await fetch(`${registry()}/v1/meters/${meter!.line.meterId}/decommission`, {
      method: 'POST',
      headers: { authorization: `Bearer ${platform.adminToken}` },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'decommissioned' });
    await expect(connect()).rejects.toThrow(/not authori|bad user name or password/i);
  });

  it('imports a manifest file streamed by registry-cli, and exits 2 when lines were rejected', async () => {
    const meters = testMeters(2);
    const file = join(mkdtempSync(join(tmpdir(), 'manifest-')), 'fleet.ndjson');
    writeFileSync(file, `${manifestOf(meters)}not json\n`);
    const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>(
      (resolve) => {
        const child = execFile(
          process.execPath,
          [
            join(REPO_ROOT, 'dist', 'apps', 'registry', 'src', 'cli.js'),
            'import-manifest',
            file,
            '--url',
            registry(),
          ],
          { env: { ...process.env, REGISTRY_TOKEN: platform.adminToken } },
          (_error, out) => resolve({ code: child.exitCode, stdout: out }),
        );
      },
    );
    expect(code).toBe(2);
    expect(JSON.parse(stdout)).toMatchObject({
      status: 'completed',
      imported: 2,
      rejected: 1,
      errors: [{ line: 3, reason: 'not valid JSON' }],
    });
  });

  it('imports one of two meters with one EID and rejects the other, even when stored at once', async () => {
    const [first, second, third] = testMeters(3);
    const twin = { ...second!.line, eid: first!.line.eid };
    const report = await platform.importManifest({
      ndjson: `${JSON.stringify(first!.line)}\n${JSON.stringify(twin)}\n${JSON.stringify(third!.line)}\n`,
    });
    expect(report).toMatchObject({ imported: 2, rejected: 1 });
    // Concurrent transactions: whichever line was stored second is the one refused.
    const [error] = report.errors;
    const [kept, refused] = error?.line === 1 ? [twin, first!.line] : [first!.line, twin];
    expect(error).toEqual({
      line: refused === twin ? 2 : 1,
      reason: `eid already belongs to ${kept.meterId}`,
    });
  });
});

/** The same import with the default batch size: many lines, one transaction per batch. */
describe('registry manifest import, default batch size', () => {
  const infra = infraEnv();
  const platform = new Platform({
    infra,
    basePort: 4301,
    services: ['registry'],
    logTag: 'int-registry-batches',
  });
  const registry = (): string => platform.service('registry').baseUrl;
  const get = async <T>(path: string, status = 200): Promise<T> => {
    const res = await fetch(`${registry()}${path}`, {
      headers: { authorization: `Bearer ${platform.adminToken}` },
    });
    expect([path, res.status]).toEqual([path, status]);
    return (await res.json()) as T;
  };

  beforeAll(async () => {
    await platform.start();
    await platform.importCatalogue(TEST_CATALOGUE);
  });
  afterAll(async () => {
    await platform.stop();
  });

  it('rejects a meterId repeated with another eid within one batch, as it does across batches', async () => {
    const [meter, other] = testMeters(2);
    const id = meter!.line.meterId;
    // Same meterId, the other meter's EID and ICCIDs: nothing but the meterId clashes.
    const twin = { ...other!.line, meterId: id };
    const again = { ...meter!.line, mqttPassword: 'another-password-for-it' };
    const report = await platform.importManifest({
      ndjson: [meter!.line, twin, again].map((l) => JSON.stringify(l)).join('\n') + '\n',
    });
    const reason = `meter ${id} already exists with another eid`;
    expect(report).toMatchObject({
      imported: 1,
      unchanged: 1,
      rejected: 1,
      errors: [{ line: 2, reason }],
    });
    // The same line in a later import (another batch) is refused with the same reason.
    expect(await platform.importManifest({ ndjson: `${JSON.stringify(twin)}\n` })).toMatchObject({
      imported: 0,
      unchanged: 0,
      rejected: 1,
      errors: [{ line: 1, reason }],
    });
    expect(await get(`/v1/meters/${id}`)).toMatchObject({ eid: meter!.line.eid });
    // The stored meter is the first line's, and so is its broker credential.
    const client = await connectAs(infra.MQTT_URL, id, meter!.line.mqttPassword);
    await client.endAsync();
    await expect(connectAs(infra.MQTT_URL, id, again.mqttPassword)).rejects.toThrow(
      /not authori|bad user name or password/i,
    );
  });

  it('imports a meter whose password is provisioning.md\'s sample "…", and lets it connect with it', async () => {
    const [meter] = testMeters(1, { mqttPassword: '…' });
    expect(await platform.importManifest({ ndjson: manifestOf([meter!]) })).toMatchObject({
      imported: 1,
      rejected: 0,
    });
    const client = await connectAs(infra.MQTT_URL, meter!.line.meterId, '…');
    await client.endAsync();
  });

  it('keeps every line error beyond those the report carries, paged by line number', async () => {
    const valid: TestMeter[] = testMeters(2);
    const invalid = 10_005;
    const lines = Array.from({ length: invalid }, (_, i) => `not json ${i}`);
    lines.splice(5_000, 0, JSON.stringify(valid[0]!.line));
    lines.push(JSON.stringify(valid[1]!.line));
    // Refused when stored, not when parsed: an EID a valid line of the same batch has.
    lines.push(JSON.stringify({ ...testMeters(1)[0]!.line, eid: valid[0]!.line.eid }));
    const report = (await platform.importManifest({
      ndjson: `${lines.join('\n')}\n`,
    })) as Awaited<ReturnType<Platform['importManifest']>> & { importId: string };
    expect(report).toMatchObject({ imported: 2, rejected: invalid + 1 });
    const expected = lines.flatMap((text, i) => (text.startsWith('{') ? [] : [i + 1]));
    expected.push(lines.length);
    expect(report.errors).toHaveLength(10_000);
    expect(report.errors.map((e) => e.line)).toEqual(expected.slice(0, 10_000));

    type Page = { errors: { line: number; reason: string }[]; nextAfter?: number };
    const all: Page['errors'] = [];
    let after: number | undefined;
    do {
      const page: Page = await get(
        `/v1/imports/${report.importId}/errors?limit=4000${after === undefined ? '' : `&after=${after}`}`,
      );
      all.push(...page.errors);
      after = page.nextAfter;
    } while (after !== undefined);
    expect(all.map((e) => e.line)).toEqual(expected);
    expect(all[0]).toEqual({ line: 1, reason: 'not valid JSON' });
    expect(all[all.length - 1]).toEqual({
      line: lines.length,
      reason: 'eid already belongs to another meter in this manifest',
    });
    await get(`/v1/imports/${report.importId}/errors?limit=0`, 400);
    await get('/v1/imports/00000000-0000-4000-8000-000000000000/errors', 404);
  });
});
