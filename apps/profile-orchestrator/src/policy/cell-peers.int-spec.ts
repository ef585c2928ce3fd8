import { randomBytes } from 'node:crypto';
import { createPool, type Pool } from '@meterlink/postgres';
import { SwapsRepository } from '../swaps.repository';
import { OrchestratorHarness } from '../test-support/orchestrator-harness';

/**
 * Every meter's radio (cell, RSRP) from meter.connectivity.v1 and its coverage state from
 * coverage.events.v1, kept in orchestrator.meter_radio for the swap policy's cell peers.
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
