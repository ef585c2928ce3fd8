import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SPEC_SAMPLE_CATALOGUE_JSON, TOPICS, fleetRegionRecordSchema } from '@meterlink/contracts';
import { createKafka } from '@meterlink/kafka';
import { createPool, type Pool } from '@meterlink/postgres';
import {
  Platform,
  TEST_CATALOGUE,
  TopicRecorder,
  eventually,
  infraEnv,
  manifestOf,
  stackVariables,
  testMeters,
} from '@meterlink/testing';

interface Meters {
  meters: { meterId: string; region: string; status: string }[];
  nextAfter?: string;
}

/** The operator API over real PostgreSQL, Kafka and Mosquitto: reads, reports, audit, OpenAPI. */
describe('registry operator API', () => {
  const infra = infraEnv();
  const viewer = randomBytes(20).toString('hex');
  const operator = randomBytes(20).toString('hex');
  // Migrations as the schema owner, the service as DATABASE_URL's role (stack.sh env's default).
  const { DATABASE_OWNER_URL } = stackVariables(['DATABASE_OWNER_URL']);
  const platform = new Platform({
    infra,
    basePort: 4301,
    services: ['registry'],
    logTag: 'int-registry-api',
    extraApiTokens: [`${viewer}:viewer`, `${operator}:operator`],
    extraEnv: { registry: { DATABASE_OWNER_URL } },
  });
  const region = `api-${randomBytes(3).toString('hex')}`;
  const north = testMeters(3, { region });
  const [decommissioned] = testMeters(1, { region });
  let manifestImportId: string;
  let pool: Pool;

  const get = async <T>(path: string, token = viewer, status = 200): Promise<T> => {
    const res = await fetch(`${platform.service('registry').baseUrl}${path}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect([path, res.status]).toEqual([path, status]);
    return (await res.json()) as T;
  };

  beforeAll(async () => {
    pool = createPool(infra.DATABASE_URL, 'int-registry-api', 2);
    await platform.start();
    await platform.importCatalogue({
      ...TEST_CATALOGUE,
      regions: [...TEST_CATALOGUE.regions, { region, carriers: ['carrier-b', 'carrier-a'] }],
    });
    const report = (await platform.importManifest({
      ndjson: `${manifestOf([...north, decommissioned!])}{"not": "a meter"}\n`,
    })) as unknown as { importId: string; imported: number };
    expect(report.imported).toBe(4);
    manifestImportId = report.importId;
    const res = await fetch(
      `${platform.service('registry').baseUrl}/v1/meters/${decommissioned!.line.meterId}/decommission`,
      { method: 'POST', headers: { authorization: `Bearer ${operator}` } },
    );
    expect(res.status).toBe(200);
  });

  afterAll(async () => {
    await platform.stop();
    await pool.end();
  });

  it('serves the OpenAPI document that is checked in, without a token', async () => {
    const res = await fetch(`${platform.service('registry').baseUrl}/v1/openapi.json`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(
      JSON.parse(readFileSync(join(__dirname, '..', '..', 'openapi.json'), 'utf8')),
    );
  });

  it('pages through meters filtered by region and status, with a cursor', async () => {
    const first = await get<Meters>(`/v1/meters?region=${region}&limit=2`);
    expect(first.meters).toHaveLength(2);
    expect(first.nextAfter).toBe(first.meters[1]!.meterId);
    const second = await get<Meters>(
      `/v1/meters?region=${region}&limit=2&after=${first.nextAfter}`,
    );
    const all = [...first.meters, ...second.meters].map((m) => m.meterId);
    expect(all).toEqual([...north, decommissioned!].map((m) => m.line.meterId).sort());
    const active = await get<Meters>(`/v1/meters?region=${region}&status=active`);
    expect(active.meters.map((m) => m.meterId)).toEqual(north.map((m) => m.line.meterId).sort());
    expect(active.nextAfter).toBeUndefined();
    // Every test meter's enabled profile is on carrier-a, its disabled (fallback) one on carrier-b.
    const onA = await get<Meters>(`/v1/meters?region=${region}&carrierId=carrier-a&status=active`);
    expect(onA.meters.map((m) => m.meterId)).toEqual(north.map((m) => m.line.meterId).sort());
    const onAPaged = await get<Meters>(`/v1/meters?region=${region}&carrierId=carrier-a&limit=1`);
    expect(onAPaged.meters).toHaveLength(1);
    expect(onAPaged.nextAfter).toBe(onAPaged.meters[0]!.meterId);
    const onB = await get<Meters>(`/v1/meters?region=${region}&carrierId=carrier-b`);
    expect(onB.meters).toEqual([]);
    await get(`/v1/meters?limit=0`, viewer, 400);
    await get(`/v1/meters?status=lost`, viewer, 400);
  });

  it('reads the catalogue, carriers with tariffs and region contracts', async () => {
    const catalogue = await get<{ carriers: unknown[]; regions: { region: string }[] }>(
      '/v1/catalogue',
    );
    expect(catalogue.carriers).toEqual(expect.arrayContaining(TEST_CATALOGUE.carriers));
    expect(catalogue.regions).toContainEqual({ region, carriers: ['carrier-b', 'carrier-a'] });
    expect(await get('/v1/carriers/carrier-b')).toMatchObject({
      ...TEST_CATALOGUE.carriers[1],
      updatedAt: expect.any(String) as unknown,
    });
    expect(await get(`/v1/regions/${region}`)).toMatchObject({
      carriers: ['carrier-b', 'carrier-a'],
    });
    const carriers = await get<{ carriers: { carrierId: string }[] }>('/v1/carriers');
    expect(carriers.carriers.map((c) => c.carrierId)).toEqual(
      expect.arrayContaining(['carrier-a', 'carrier-b']),
    );
    await get('/v1/carriers/no-such-carrier', viewer, 404);
    await get('/v1/regions/no-such-region', viewer, 404);
  });

  it("imports provisioning.md's sample catalogue as it is: carrier-c stays under contract in south, with a warning", async () => {
    const kafka = createKafka({
      brokers: infra.KAFKA_BROKERS.split(','),
      clientId: 'int-registry-api-catalogue',
    });
    const recorder = new TopicRecorder(kafka, [TOPICS.fleetRegions.name]);
    await recorder.start();
    try {
      const res = await fetch(`${platform.service('registry').baseUrl}/v1/catalogue`, {
        method: 'PUT',
        headers: {
          authorization: `Bearer ${platform.adminToken}`,
          'content-type': 'application/json',
        },
        body: SPEC_SAMPLE_CATALOGUE_JSON,
      });
      const answer = (await res.json()) as { importId: string; warnings: unknown[] };
      expect([res.status, answer]).toEqual([
        200,
        expect.objectContaining({
          carriers: 2,
          regions: 2,
          warnings: [
            expect.objectContaining({
              code: 'uncatalogued_carrier',
              region: 'south',
              carrierId: 'carrier-c',
              path: 'regions.1.carriers.1',
            }),
          ],
        }),
      ]);
      expect(await get('/v1/regions/south')).toMatchObject({
        carriers: ['carrier-b', 'carrier-c'],
      });
      await get('/v1/carriers/carrier-c', viewer, 404);
      expect(await get(`/v1/imports/${answer.importId}`)).toMatchObject({
        status: 'completed',
        detail: { warnings: answer.warnings },
      });
      // The consumers' contract for fleet.regions.v1 takes the region as it is.
      await eventually(() => recorder.on(TOPICS.fleetRegions.name).length >= 2, {
        timeoutMs: 20_000,
        what: 'the catalogue regions on fleet.regions.v1',
      });
      const south = recorder
        .on(TOPICS.fleetRegions.name)
        .map((r) => fleetRegionRecordSchema.parse(r))
        .find((r) => r.region === 'south');
      expect(south?.carriers).toEqual(['carrier-b', 'carrier-c']);
    } finally {
      await recorder.stop();
    }
  });

  it('keeps each import report: listed newest first, and whole with its line errors', async () => {
    const list = await get<{ imports: { importId: string; kind: string; status: string }[] }>(
      '/v1/imports?kind=manifest&limit=5',
    );
    expect(list.imports[0]).toMatchObject({
      importId: manifestImportId,
      kind: 'manifest',
      status: 'completed',
      imported: 4,
      rejected: 1,
    });
    expect(list.imports[0]).not.toHaveProperty('errors');
    expect(await get(`/v1/imports/${manifestImportId}`)).toMatchObject({
      status: 'completed',
      actor: 'token-1',
      errors: [{ line: 5, reason: expect.stringMatching(/meterId/) as unknown }],
    });
    const catalogues = await get<{ imports: { kind: string; detail: unknown }[] }>(
      '/v1/imports?kind=catalogue&limit=1',
    );
    expect(catalogues.imports[0]).toMatchObject({ kind: 'catalogue', detail: { carriers: 2 } });
    await get('/v1/imports/not-a-uuid', viewer, 400);
    await get('/v1/imports/00000000-0000-4000-8000-000000000000', viewer, 404);
  });

  it('shows every change in the audit log, to admins only, filtered', async () => {
    type Audit = { entries: { action: string; subject: string; actor: string }[] };
    const admin = platform.adminToken;
    const decommissions = await get<Audit>(
      `/v1/audit?action=meter.decommission&subject=${decommissioned!.line.meterId}`,
      admin,
    );
    expect(decommissions.entries).toEqual([
      expect.objectContaining({ action: 'meter.decommission', actor: 'token-3' }),
    ]);
    const imports = await get<Audit>(`/v1/audit?subject=${manifestImportId}`, admin);
    expect(imports.entries).toEqual([
      expect.objectContaining({ action: 'manifest.import', actor: 'token-1' }),
    ]);
    const recent = await get<Audit & { nextBefore?: number }>('/v1/audit?limit=2', admin);
    expect(recent.entries).toHaveLength(2);
    expect(recent.nextBefore).toEqual(expect.any(Number));
    await get('/v1/audit', viewer, 403);
    await get('/v1/audit', operator, 403);
    await get('/v1/audit?since=yesterday', admin, 400);
  });

  it('refuses the service role to change or remove audit entries, or to lift the triggers', async () => {
    // `pool` is the registry's own role (DATABASE_URL): it holds no UPDATE, DELETE or TRUNCATE.
    const changes = [
      `UPDATE registry.audit_log SET actor = 'someone else'`,
      'DELETE FROM registry.audit_log',
      'TRUNCATE registry.audit_log',
    ];
    for (const change of changes)
      await expect(pool.query(change)).rejects.toThrow(/permission denied for table audit_log/);
    // Nor is it the owner, the only one (but a superuser) who may drop or disable a trigger.
    for (const lift of [
      'ALTER TABLE registry.audit_log DISABLE TRIGGER audit_log_no_change',
      'DROP TRIGGER audit_log_no_change ON registry.audit_log',
      'ALTER TABLE registry.audit_log OWNER TO CURRENT_USER',
      'DROP TABLE registry.audit_log',
    ])
      await expect(pool.query(lift)).rejects.toThrow(/must be owner of (table|relation) audit_log/);
    // What it may do: append and read.
    const { rows: rights } = await pool.query<Record<string, boolean>>(
      `SELECT ${['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'TRIGGER']
        .map((p) => `has_table_privilege('registry.audit_log', '${p}') AS "${p}"`)
        .join(', ')}`,
    );
    expect(rights[0]).toEqual({
      SELECT: true,
      INSERT: true,
      UPDATE: false,
      DELETE: false,
      TRUNCATE: false,
      TRIGGER: false,
    });
    // The owner, who has every privilege, still meets the triggers.
    const owner = createPool(DATABASE_OWNER_URL, 'int-registry-api-owner', 1);
    try {
      for (const change of changes)
        await expect(owner.query(change)).rejects.toThrow(/append-only/);
    } finally {
      await owner.end();
    }
    const { rows } = await pool.query<{ n: string }>(
      'SELECT count(*) AS n FROM registry.audit_log WHERE subject = $1',
      [manifestImportId],
    );
    expect(Number(rows[0]!.n)).toBe(1);
  });
});
