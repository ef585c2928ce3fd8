import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  TOPICS,
  type CoverageEventRecord,
  type IngestRejectedRecord,
  type MeterConnectivityRecord,
  type MeterReadingRecord,
  type ProfileSwapRecord,
} from '@meterlink/contracts';
import { createKafka } from '@meterlink/kafka';
import { createPool } from '@meterlink/postgres';
import { FleetSimulator, generateFleet, loadScenario, writeFleet } from '@meterlink/meter-sim';
import { Platform, REPO_ROOT, TopicRecorder, eventually, infraEnv } from '@meterlink/testing';
import { isolate } from './support/issue6';

/**
 * Issue 2's slice, end to end: the five services as processes over real Kafka, Mosquitto, Redis
 * and PostgreSQL, and a simulated fleet in which carrier-a's service in region north degrades.
 */
describe('a carrier outage in one region', () => {
  const infra = infraEnv();
  const kafka = createKafka({ brokers: infra.KAFKA_BROKERS.split(','), clientId: 'e2e' });
  const platform = new Platform({ infra, basePort: 4101, logTag: 'e2e-outage' });
  const recorder = new TopicRecorder(kafka, [
    TOPICS.profileSwaps.name,
    TOPICS.coverageEvents.name,
    TOPICS.meterReadings.name,
    TOPICS.meterConnectivity.name,
    TOPICS.ingestRejected.name,
  ]);
  let simulator: FleetSimulator | undefined;

  afterAll(async () => {
    await simulator?.stop();
    await recorder.stop();
    await platform.stop();
  });

  it('swaps the affected meters to another carrier and leaves every other meter alone', async () => {
    await recorder.start();
    await platform.start();

    const tag = randomBytes(3).toString('hex');
    const loaded = await loadScenario(
      join(REPO_ROOT, 'tools', 'meter-sim', 'scenarios', 'e2e.json'),
    );
    // Carriers and regions of its own (carrier-a-<tag>, north-<tag>): meters that earlier tests
    // left on the shared stack's carrier-a in north must not make this run's degradation an outage.
    const scenario = isolate(loaded, tag);
    const carrierA = `carrier-a-${tag}`;
    const carrierB = `carrier-b-${tag}`;
    const north = `north-${tag}`;
    const fleet = generateFleet(scenario, { fleetTag: tag });
    const stateDir = mkdtempSync(join(tmpdir(), 'meterlink-e2e-'));
    const files = await writeFleet(fleet, stateDir);
    await platform.importCatalogue(files.catalogue);
    const report = await platform.importManifest(files.manifest);
    expect(report).toMatchObject({ imported: fleet.manifest.length, rejected: 0 });

    const enabledCarrier = (meterId: string): string =>
      fleet.manifest
        .find((m) => m.meterId === meterId)!
        .profiles.find((p) => p.state === 'enabled')!.carrierId;
    const ours = new Set(fleet.manifest.map((m) => m.meterId));
    const affected = fleet.manifest
      .filter((m) => m.region === north && enabledCarrier(m.meterId) === carrierA)
      .map((m) => m.meterId);
    const unaffected = fleet.manifest.map((m) => m.meterId).filter((id) => !affected.includes(id));
    expect(affected.length).toBeGreaterThan(0);
    expect(unaffected.length).toBeGreaterThan(0);

    simulator = new FleetSimulator({
      scenario,
      stateDir,
      mqttUrl: infra.MQTT_URL,
      eimJwks: `${platform.service('profile-orchestrator').baseUrl}/eim/jwks.json`,
      durationS: 0,
    });
    await simulator.start();

    const swaps = (): ProfileSwapRecord[] =>
      recorder.on<ProfileSwapRecord>(TOPICS.profileSwaps.name, (s) => ours.has(s.meterId));
    const completed = await eventually(
      () => {
        const done = swaps().filter((s) => s.state === 'completed');
        return affected.every((id) => done.some((s) => s.meterId === id)) ? done : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 500, what: 'every affected meter to complete a swap' },
    );

    // Each affected meter moved from carrier-a to carrier-b because of coverage, through the states in order.
    for (const meterId of affected) {
      const swap = completed.find((s) => s.meterId === meterId)!;
      expect(swap).toMatchObject({
        fromCarrierId: carrierA,
        toCarrierId: carrierB,
        trigger: 'coverage',
      });
      const states = swaps()
        .filter((s) => s.swapId === swap.swapId)
        .map((s) => s.state);
      expect(states).toEqual(['requested', 'dispatched', 'completed']);
    }
    // ...and the platform then saw its traffic on carrier-b.
    await eventually(
      () =>
        affected.every(
          (id) =>
            recorder.on<MeterConnectivityRecord>(
              TOPICS.meterConnectivity.name,
              (c) => c.meterId === id && c.carrierId === carrierB,
            ).length > 0,
        ),
      { timeoutMs: 30_000, what: 'traffic of every swapped meter on carrier-b' },
    );

    // The registry's inventory follows: carrier-b's profile is now the enabled one.
    await eventually(
      async () => {
        const enabledNow = await Promise.all(
          affected.map(async (id) => {
            const meter = (await platform.registryGet(`/v1/meters/${id}`)) as {
              profiles: { carrierId: string; state: string }[];
            };
            return meter.profiles.find((p) => p.state === 'enabled')?.carrierId;
          }),
        );
        return enabledNow.every((carrierId) => carrierId === carrierB);
      },
      { timeoutMs: 30_000, what: 'the registry to show carrier-b enabled on every swapped meter' },
    );

    // Readings flowed for every meter of the fleet.
    await eventually(
      () =>
        [...ours].every(
          (id) =>
            recorder.on<MeterReadingRecord>(TOPICS.meterReadings.name, (r) => r.meterId === id)
              .length >= 3,
        ),
      {
        timeoutMs: 30_000,
        what: 'readings from every meter',
      },
    );

    // Meters elsewhere were left alone: no swap and no coverage event, and nothing was rejected.
    expect(swaps().filter((s) => unaffected.includes(s.meterId))).toEqual([]);
    const coverage = recorder.on<CoverageEventRecord>(
      TOPICS.coverageEvents.name,
      (e) => e.meterId !== undefined && ours.has(e.meterId),
    );
    expect(coverage.filter((e) => unaffected.includes(e.meterId!))).toEqual([]);
    expect(coverage.filter((e) => e.type === 'meter.degraded').map((e) => e.carrierId)).toEqual(
      expect.arrayContaining([carrierA]),
    );
    expect(
      recorder.on<IngestRejectedRecord>(
        TOPICS.ingestRejected.name,
        (r) => r.meterId !== undefined && ours.has(r.meterId),
      ),
    ).toEqual([]);
    // Each reading appears once per (meter, seq).
    const readingKeys = recorder
      .on<MeterReadingRecord>(TOPICS.meterReadings.name, (r) => ours.has(r.meterId))
      .map((r) => `${r.meterId}/${r.seq}/${r.at}`);
    expect(new Set(readingKeys).size).toBe(readingKeys.length);

    // Billing kept the readings and each swapped meter's profile timeline in PostgreSQL.
    const pool = createPool(infra.DATABASE_URL, 'e2e', 2);
    try {
      await eventually(
        async () => {
          const { rows } = await pool.query<{ meter_id: string; carrier_id: string }>(
            `SELECT meter_id, carrier_id FROM billing.profile_timeline WHERE meter_id = ANY($1) AND source = 'swap'`,
            [affected],
          );
          return affected.every((id) =>
            rows.some((r) => r.meter_id === id && r.carrier_id === carrierB),
          );
        },
        {
          timeoutMs: 30_000,
          what: 'a carrier-b timeline entry for every swapped meter in billing',
        },
      );
      const { rows: firstSeen } = await pool.query<{ n: string }>(
        `SELECT count(DISTINCT meter_id) AS n FROM billing.profile_timeline WHERE meter_id = ANY($1) AND source = 'first-seen'`,
        [[...ours]],
      );
      expect(Number(firstSeen[0]?.n)).toBe(ours.size);
      await eventually(
        async () => {
          const { rows } = await pool.query<{ n: string }>(
            'SELECT count(DISTINCT meter_id) AS n FROM billing.readings WHERE meter_id = ANY($1)',
            [[...ours]],
          );
          return Number(rows[0]?.n) === ours.size;
        },
        { timeoutMs: 30_000, what: 'readings of every meter in billing' },
      );
    } finally {
      await pool.end();
    }

    await simulator.stop();
    simulator = undefined;
    // Every service stops cleanly on SIGTERM.
    const codes = await platform.stop();
    expect([...codes.values()]).toEqual([0, 0, 0, 0, 0]);
  });
});
