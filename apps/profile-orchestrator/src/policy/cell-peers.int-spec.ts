import { randomBytes } from 'node:crypto';
import { createPool, type Pool } from '@meterlink/postgres';
import { summarizeCoverage, type MeterCoverageSample } from '@meterlink/swap-policy';
import { eventually, readMetric, seeded, type TestMeter } from '@meterlink/testing';
import { SwapsRepository } from '../swaps.repository';
import { OrchestratorHarness } from '../test-support/orchestrator-harness';

/**
 * The swap policy's cell-level coverage in the service: every meter's radio (cell, RSRP) from
 * meter.connectivity.v1 and its coverage state from coverage.events.v1, kept in
 * orchestrator.meter_radio and aggregated over the deciding meter's cell. Default config: no
 * meter fault from region peers (SWAP_METER_FAULT_FROM_REGION_PEERS off).
 */
describe('profile-orchestrator cell peers', () => {
  const h = new OrchestratorHarness(5141, 5193);
  let pool: Pool;
  let repo: SwapsRepository;

  beforeAll(async () => {
    await h.start();
    pool = createPool(h.infra.DATABASE_URL, 'int-orch-cell', 2);
    repo = new SwapsRepository(pool);
  });
  afterAll(async () => {
    await pool.end();
    expect(await h.stop()).toBe(0);
  });

  const decided = (outcome: string) =>
    readMetric(h.service.baseUrl, 'orchestrator_swap_decisions_total', { outcome });
  const iccidOn = (meter: TestMeter, carrierId: string) =>
    meter.line.profiles.find((p) => p.carrierId === carrierId)!.iccid;
  const report = (meter: TestMeter, carrierId: string, cellId: string, rsrp: number) =>
    h.traffic(meter, iccidOn(meter, h.carriers.a), carrierId, undefined, { cellId, rsrp });
  const coverageEvent = (
    meter: TestMeter,
    type: 'meter.degraded' | 'meter.lost' | 'meter.restored',
  ) =>
    h.coverage(
      {
        type,
        carrierId: h.carriers.a,
        region: h.region,
        meterId: meter.line.meterId,
        reason: type === 'meter.lost' ? 'silent_past_deadline' : 'signal_below_threshold',
      },
      meter.line.meterId,
    );
  /** What the orchestrator has stored of a cell: `carrier:state` per meter, sorted. */
  const cellSeen = async (cellId: string) =>
    (
      await pool.query<{ s: string }>(
        `SELECT carrier_id || ':' || coverage_state AS s FROM orchestrator.meter_radio
         WHERE region = $1 AND cell_id = $2 ORDER BY 1`,
        [h.region, cellId],
      )
    ).rows.map((r) => r.s);
  let lastSeen: string[] = [];
  const cellStored = (cellId: string, expected: string[]) =>
    eventually(
      async () => {
        lastSeen = await cellSeen(cellId);
        return JSON.stringify(lastSeen) === JSON.stringify([...expected].sort());
      },
      {
        what: `cell ${cellId} stored as ${expected.join(', ')}`,
        detail: () => JSON.stringify(lastSeen),
      },
    );

  it('does not swap a degraded meter whose carrier is fine in its cell (meter_fault), and swaps it once its cell peers are not', async () => {
    const [meter, ...peers] = await h.meters(7);
    // The region's counts of carrier a are fine too: the cell is what the test is about.
    await h.carrierStats(h.carriers.a, { meters: 40, degraded: 1 });
    await report(meter!, h.carriers.a, 'C-FAULT', -119);
    for (const peer of peers) await report(peer, h.carriers.a, 'C-FAULT', -88);
    await cellStored('C-FAULT', Array<string>(7).fill(`${h.carriers.a}:healthy`));

    const faultsBefore = await decided('meter_fault');
    await coverageEvent(meter!, 'meter.degraded');
    await eventually(async () => (await decided('meter_fault')) === faultsBefore + 1, {
      what: 'the degradation judged the meter’s own fault',
    });
    expect(h.swapRecords(meter!.line.meterId)).toEqual([]);
    expect(h.outbound(meter!.line.meterId)).toEqual([]);

    // Four of its six cell peers go bad: the cell is down, whatever the region says.
    await coverageEvent(peers[0]!, 'meter.degraded');
    await coverageEvent(peers[1]!, 'meter.degraded');
    await coverageEvent(peers[2]!, 'meter.lost');
    await coverageEvent(peers[3]!, 'meter.lost');
    // The meter itself is stored degraded since its first event.
    await cellStored('C-FAULT', [
      `${h.carriers.a}:healthy`,
      `${h.carriers.a}:healthy`,
      `${h.carriers.a}:degraded`,
      `${h.carriers.a}:degraded`,
      `${h.carriers.a}:degraded`,
      `${h.carriers.a}:lost`,
      `${h.carriers.a}:lost`,
    ]);
    await coverageEvent(meter!, 'meter.degraded');
    const requested = await eventually(
      () => h.swapRecords(meter!.line.meterId).find((r) => r.state === 'requested'),
      { what: `a swap of ${meter!.line.meterId}` },
    );
    expect(requested).toMatchObject({
      trigger: 'coverage',
      fromCarrierId: h.carriers.a,
      toCarrierId: h.carriers.b,
    });
    expect(await decided('meter_fault')).toBe(faultsBefore + 1);
  });

  it('prefers a carrier good in the meter’s cell to one unknown there, even with a download', async () => {
    const [meter, ...peers] = await h.meters(6);
    // Carrier d's meters in the cell report well; carrier b has none there (and no region counts):
    // without the cell, b (profile on the eUICC, preferred by contract) would win.
    await report(meter!, h.carriers.a, 'C-RANK', -121);
    for (const peer of peers) await report(peer, h.carriers.d, 'C-RANK', -84);
    await cellStored('C-RANK', [
      `${h.carriers.a}:healthy`,
      ...Array<string>(5).fill(`${h.carriers.d}:healthy`),
    ]);
    await coverageEvent(meter!, 'meter.degraded');
    const requested = await eventually(
      () => h.swapRecords(meter!.line.meterId).find((r) => r.state === 'requested'),
      { what: `a swap of ${meter!.line.meterId}` },
    );
    expect(requested).toMatchObject({
      fromCarrierId: h.carriers.a,
      toCarrierId: h.carriers.d,
      needsDownload: true,
    });
  });

  it('aggregates a cell in SQL exactly as summarizeCoverage does', async () => {
    const rnd = seeded(6);
    const region = `cells-${randomBytes(3).toString('hex')}`;
    const now = Date.now();
    const windowMs = 3_600_000;
    const carriers = ['ca', 'cb', 'cc'];
    const cells = ['X1', 'X2'];
    const states = ['healthy', 'degraded', 'lost'] as const;
    type Row = MeterCoverageSample & { meterId: string; region: string; seenAt: number };
    const rows: Row[] = Array.from({ length: 80 }, (_, i) => ({
      meterId: `${region}-${i}`,
      // A few in another region with the same cell ids, and a few without a known carrier.
      region: rnd.chance(0.1) ? `${region}-other` : region,
      carrierId: rnd.chance(0.05) ? '' : rnd.pick(carriers),
      cellId: rnd.pick(cells),
      state: rnd.pick(states),
      // Integers and halves: the medians of both sides are exact.
      rsrpDbm: rnd.chance(0.1) ? null : -rnd.int(160, 250) / 2,
      // Some seen before the window: they are no evidence.
      seenAt:
        now -
        (rnd.chance(0.15) ? windowMs + rnd.int(60_000, 3_600_000) : rnd.int(0, windowMs - 60_000)),
    }));
    await repo.saveRadio(
      pool,
      rows.map((r) => ({
        meterId: r.meterId,
        region: r.region,
        carrierId: r.carrierId === '' ? null : r.carrierId,
        cellId: r.cellId,
        rsrpDbm: r.rsrpDbm,
        batteryPct: null,
        at: new Date(r.seenAt),
      })),
      { rsrpStepDb: 3, refreshS: 3600 },
    );
    await repo.saveCoverageStates(
      pool,
      rows
        .filter((r) => r.state !== 'healthy' && r.carrierId !== '')
        .map((r) => ({
          meterId: r.meterId,
          region: r.region,
          carrierId: r.carrierId,
          state: r.state,
          at: new Date(r.seenAt),
        })),
    );
    const counted = (self: Row, selfState?: Row['state']) =>
      rows
        .filter(
          (r) =>
            r.region === region && r.carrierId !== '' && (r === self || r.seenAt >= now - windowMs),
        )
        .map((r) => (r === self && selfState ? { ...r, state: selfState } : r));
    const inRegion = rows.filter((r) => r.region === region && r.carrierId !== '');
    for (const self of inRegion.slice(0, 6)) {
      for (const selfState of [undefined, 'degraded', 'lost'] as const) {
        const fromSql = await repo.cellCoverage(pool, {
          meterId: self.meterId,
          region,
          sinceMs: now - windowMs,
          self: { carrierId: self.carrierId, state: selfState ?? null },
        });
        const { cell } = summarizeCoverage(counted(self, selfState), self.cellId);
        expect(fromSql.cellId).toBe(self.cellId);
        expect(
          Object.fromEntries(
            fromSql.carriers.map((c) => [
              c.carrier_id,
              {
                samples: c.samples,
                lost: c.lost,
                degraded: c.degraded,
                medianRsrpDbm: c.median_rsrp_dbm,
              },
            ]),
          ),
        ).toEqual(cell);
      }
    }
    // A meter with no known cell has no cell peers.
    expect(
      await repo.cellCoverage(pool, {
        meterId: `${region}-never-reported`,
        region,
        sinceMs: now - windowMs,
        self: { carrierId: 'ca', state: 'degraded' },
      }),
    ).toEqual({ cellId: null, carriers: [] });
  });

  it('keeps the newest telemetry per meter and rewrites a row only for news or once it is old', async () => {
    const meterId = `radio-${randomBytes(3).toString('hex')}`;
    const opts = { rsrpStepDb: 3, refreshS: 3600 };
    const t0 = Date.now() - 10 * 3_600_000;
    const at = (minutes: number) => new Date(t0 + minutes * 60_000);
    const save = (
      minutes: number,
      over: { cellId?: string; rsrpDbm?: number; batteryPct?: number },
    ) =>
      repo.saveRadio(
        pool,
        [
          {
            meterId,
            region: 'r',
            carrierId: 'ca',
            cellId: over.cellId ?? 'C1',
            rsrpDbm: over.rsrpDbm ?? -90,
            batteryPct: over.batteryPct ?? null,
            at: at(minutes),
          },
        ],
        opts,
      );
    const stored = async () =>
      (
        await pool.query<{
          cell_id: string;
          rsrp_dbm: number;
          battery_pct: number | null;
          telemetry_at: Date;
        }>(
          'SELECT cell_id, rsrp_dbm, battery_pct, telemetry_at FROM orchestrator.meter_radio WHERE meter_id = $1',
          [meterId],
        )
      ).rows[0];

    await save(0, {});
    expect(await stored()).toEqual({
      cell_id: 'C1',
      rsrp_dbm: -90,
      battery_pct: null,
      telemetry_at: at(0),
    });
    // Older than the stored one: changes nothing, however different.
    await save(-15, { cellId: 'C9', rsrpDbm: -60 });
    expect(await stored()).toMatchObject({ cell_id: 'C1', telemetry_at: at(0) });
    // Newer but nothing new (RSRP within the step): not rewritten.
    await save(15, { rsrpDbm: -92 });
    expect(await stored()).toMatchObject({ rsrp_dbm: -90, telemetry_at: at(0) });
    // RSRP moved by the step, another cell, a battery charge: each rewrites it.
    await save(30, { rsrpDbm: -93 });
    expect(await stored()).toMatchObject({ rsrp_dbm: -93, telemetry_at: at(30) });
    await save(45, { rsrpDbm: -93, cellId: 'C2' });
    expect(await stored()).toMatchObject({ cell_id: 'C2', telemetry_at: at(45) });
    await save(60, { rsrpDbm: -93, cellId: 'C2', batteryPct: 80 });
    expect(await stored()).toMatchObject({ battery_pct: 80, telemetry_at: at(60) });
    // A report without a charge keeps the one stored; a steady meter is refreshed after refreshS.
    await save(100, { rsrpDbm: -93, cellId: 'C2' });
    expect(await stored()).toMatchObject({ battery_pct: 80, telemetry_at: at(60) });
    await save(120, { rsrpDbm: -93, cellId: 'C2' });
    expect(await stored()).toMatchObject({ battery_pct: 80, telemetry_at: at(120) });

    // Coverage states: the newest wins, whatever the order they arrive in.
    const state = (s: 'healthy' | 'degraded' | 'lost', minutes: number) =>
      repo.saveCoverageStates(pool, [
        { meterId, region: 'r', carrierId: 'ca', state: s, at: at(minutes) },
      ]);
    const storedState = async () =>
      (
        await pool.query<{ coverage_state: string; state_at: Date }>(
          'SELECT coverage_state, state_at FROM orchestrator.meter_radio WHERE meter_id = $1',
          [meterId],
        )
      ).rows[0];
    await state('degraded', 130);
    await state('healthy', 125);
    expect(await storedState()).toEqual({ coverage_state: 'degraded', state_at: at(130) });
    await state('lost', 140);
    expect(await storedState()).toEqual({ coverage_state: 'lost', state_at: at(140) });
  });
});
