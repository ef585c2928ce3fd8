import { eventually, readMetric, type TestMeter } from '@meterlink/testing';
import { OrchestratorHarness } from '../test-support/orchestrator-harness';

/**
 * The swap policy's meter-fault rule in the service, judged by the coverage monitor's region
 * counts (coverage.carriers.v1) with SWAP_METER_FAULT_FROM_REGION_PEERS on: these meters never
 * report telemetry, so the orchestrator knows no cell of theirs (cell-peers.int-spec judges by
 * cells). With the default (off), swap-saga.int-spec's "judges candidate carriers…" shows the
 * same lone degraded meter swapped.
 */
describe('profile-orchestrator meter fault from region peers', () => {
  const h = new OrchestratorHarness(5131, 5189, { SWAP_METER_FAULT_FROM_REGION_PEERS: 'true' });

  beforeAll(async () => {
    await h.start();
  });
  afterAll(async () => {
    expect(await h.stop()).toBe(0);
  });

  const decided = (outcome: string) =>
    readMetric(h.service.baseUrl, 'orchestrator_swap_decisions_total', { outcome });
  /** The orchestrator's view of carrier a in the region: these counts, fresh or not. */
  const carrierASeen = (degraded: number, fresh: boolean) =>
    eventually(
      async () => {
        const { body } = await h.api(
          'GET',
          `/v1/regions/${h.region}/coverage`,
          undefined,
          'viewer',
        );
        return (body.carriers as { carrierId: string; degraded: number; fresh: boolean }[]).some(
          (c) => c.carrierId === h.carriers.a && c.degraded === degraded && c.fresh === fresh,
        );
      },
      { what: `carrier a seen with ${degraded} degraded (${fresh ? 'fresh' : 'stale'})` },
    );
  const degrade = (meter: TestMeter) =>
    h.coverage(
      {
        type: 'meter.degraded',
        carrierId: h.carriers.a,
        region: h.region,
        meterId: meter.line.meterId,
        reason: 'signal_below_threshold',
      },
      meter.line.meterId,
    );
  const swappedToB = (meter: TestMeter) =>
    eventually(() => h.swapRecords(meter.line.meterId).find((r) => r.state === 'requested'), {
      what: `a swap of ${meter.line.meterId}`,
    });

  it('does not swap a lone degraded meter whose carrier is fine in its region (meter_fault)', async () => {
    const [staleCase, alone, amongMany] = await h.meters(3);
    // Carrier b is a good target in the region throughout.
    await h.carrierStats(h.carriers.b, { meters: 40, lost: 1 });

    // Carrier a's counts are an hour old: no evidence either way, the degraded meter moves.
    await h.carrierStats(
      h.carriers.a,
      { meters: 40, degraded: 1 },
      new Date(Date.now() - 3_600_000),
    );
    await carrierASeen(1, false);
    await degrade(staleCase!);
    expect(await swappedToB(staleCase!)).toMatchObject({
      trigger: 'coverage',
      fromCarrierId: h.carriers.a,
      toCarrierId: h.carriers.b,
    });

    // Fresh counts: of carrier a's 40 meters in the region, this one alone is degraded.
    await h.carrierStats(h.carriers.a, { meters: 40, degraded: 1 });
    await carrierASeen(1, true);
    const faultsBefore = await decided('meter_fault');
    await degrade(alone!);
    await eventually(async () => (await decided('meter_fault')) === faultsBefore + 1, {
      what: 'the degradation judged the meter’s own fault',
    });
    expect(h.swapRecords(alone!.line.meterId)).toEqual([]);
    expect(h.outbound(alone!.line.meterId)).toEqual([]);

    // Six of 40 degraded: its 39 peers have 5 (13 %, above the 10 % of "fine"): it moves.
    await h.carrierStats(h.carriers.a, { meters: 40, degraded: 6 });
    await carrierASeen(6, true);
    await degrade(amongMany!);
    expect(await swappedToB(amongMany!)).toMatchObject({
      fromCarrierId: h.carriers.a,
      toCarrierId: h.carriers.b,
    });
    expect(await decided('meter_fault')).toBe(faultsBefore + 1);
  });
});
