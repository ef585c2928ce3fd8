import { createKafka } from '@meterlink/kafka';
import { TOPICS, type CoverageEventRecord, type ProfileSwapRecord } from '@meterlink/contracts';
import { TopicRecorder, eventually } from '@meterlink/testing';
import {
  issue6Stack,
  startFleet,
  statesBySwap,
  swapsOf,
  type CampaignView,
  type E2eFleet,
} from './support/issue6';

/**
 * Issue 6, "a regional outage → waves → completions": carrier-a's service in one region degrades
 * for good; the coverage monitor declares a carrier outage, the orchestrator turns it into an
 * automatic campaign that moves the region's carrier-a meters to carrier-b in waves of growing
 * size, downloading carrier-b's profile through the SM-DP+ where the eUICC has none.
 */
describe('a regional carrier outage', () => {
  const stack = issue6Stack({
    basePort: 5200,
    logTag: 'e2e6-outage-campaign',
    extraEnv: {
      // Meters scrape through the dead carrier now and then: that must not end the outage.
      'coverage-monitor': { COVERAGE_OUTAGE_RECOVERY_HOLD_S: '120' },
      'profile-orchestrator': { OUTAGE_MIN_DURATION_S: '5', OUTAGE_CAMPAIGN_CANARY: '2' },
    },
  });
  const kafka = createKafka({ brokers: stack.infra.KAFKA_BROKERS.split(','), clientId: 'e2e6-oc' });
  const recorder = new TopicRecorder(kafka, [TOPICS.profileSwaps.name, TOPICS.coverageEvents.name]);
  let fleet: E2eFleet | undefined;

  afterAll(async () => {
    await fleet?.simulator.stop();
    await recorder.stop();
    await stack.stop();
  });

  it('becomes an automatic campaign that moves the region’s meters in growing waves, downloads included', async () => {
    await recorder.start();
    await stack.start();
    fleet = await startFleet(stack, 'e2e-outage-campaign.json');
    const f = fleet;
    const [carrierA, carrierB, north] = [
      f.carrier('carrier-a'),
      f.carrier('carrier-b'),
      f.region('north'),
    ];
    const affected = f.meters(
      (m) => m.region === north && f.enabledCarrier(m.meterId) === carrierA,
    );
    const needDownload = f.meters(
      (m) => affected.includes(m.meterId) && !m.profiles.some((p) => p.carrierId === carrierB),
    );
    const unaffected = f.fleet.manifest
      .map((m) => m.meterId)
      .filter((id) => !affected.includes(id));
    expect(affected).toHaveLength(22);
    expect(needDownload).toHaveLength(6);

    // The coverage monitor sees the outage...
    const outage = await eventually(
      () =>
        recorder.on<CoverageEventRecord>(
          TOPICS.coverageEvents.name,
          (e) => e.type === 'carrier.outage' && e.carrierId === carrierA && e.region === north,
        )[0],
      { timeoutMs: 120_000, intervalMs: 500, what: `carrier.outage of ${carrierA} in ${north}` },
    );
    expect(outage.outageId).toBeDefined();

    // ...and the orchestrator makes an automatic campaign of it, towards carrier-b.
    const campaignId = await eventually(
      async () =>
        (await stack.api.campaigns()).find(
          (c) => c.trigger === 'carrier-outage' && c.targetCarrierId === carrierB,
        )?.campaignId,
      { timeoutMs: 60_000, intervalMs: 500, what: 'an automatic campaign for the outage' },
    );

    let last: CampaignView | undefined;
    const done = await eventually(
      async () => {
        last = await stack.api.campaign(campaignId);
        return last.state === 'completed' ? last : undefined;
      },
      {
        timeoutMs: 300_000,
        intervalMs: 1_000,
        what: 'the campaign to complete',
        detail: () => JSON.stringify(last),
      },
    );
    expect(done).toMatchObject({
      trigger: 'carrier-outage',
      targetCarrierId: carrierB,
      meterCount: affected.length,
      totals: { completed: affected.length, rolledBack: 0, failed: 0, inFlight: 0, pending: 0 },
    });
    // Waves: a canary first, then growing, covering every meter once.
    const sizes = done.waves.map((w) => w.size);
    expect(sizes.length).toBeGreaterThanOrEqual(3);
    expect(sizes[0]).toBe(2);
    for (let i = 1; i < sizes.length - 1; i++) expect(sizes[i]!).toBeGreaterThan(sizes[i - 1]!);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(affected.length);
    expect(done.waves.every((w) => w.completed === w.size)).toBe(true);

    // Every affected meter: one campaign swap to carrier-b, through the states in order.
    const swaps = (): ProfileSwapRecord[] =>
      swapsOf(
        recorder.on<ProfileSwapRecord>(TOPICS.profileSwaps.name, () => true),
        affected,
      );
    await eventually(
      () =>
        affected.every((id) => swaps().some((s) => s.meterId === id && s.state === 'completed')),
      { timeoutMs: 30_000, what: 'a completed swap record for every affected meter' },
    );
    const states = statesBySwap(swaps());
    for (const meterId of affected) {
      const ofMeter = swaps().filter((s) => s.meterId === meterId);
      const ids = [...new Set(ofMeter.map((s) => s.swapId))];
      expect(ids).toHaveLength(1);
      const completed = ofMeter.find((s) => s.state === 'completed')!;
      expect(completed).toMatchObject({
        fromCarrierId: carrierA,
        toCarrierId: carrierB,
        campaignId,
      });
      expect(states.get(ids[0]!)).toEqual(['requested', 'dispatched', 'completed']);
      expect(ofMeter.some((s) => s.needsDownload === true)).toBe(needDownload.includes(meterId));
    }

    // The meters really moved: carrier-b enabled, the downloaded profile where there was none.
    for (const meterId of affected) {
      const status = f.simulator.meterStatus(meterId)!;
      expect(status.enabledCarrierId).toBe(carrierB);
    }
    const smdpStats = await stack.smdp.stats(carrierB);
    expect(smdpStats).toMatchObject({
      orders: needDownload.length,
      confirmations: needDownload.length,
      downloads: needDownload.length,
    });

    // Nothing for the meters elsewhere.
    expect(
      swapsOf(
        recorder.on<ProfileSwapRecord>(TOPICS.profileSwaps.name, () => true),
        unaffected,
      ),
    ).toEqual([]);

    await f.simulator.stop();
    fleet = undefined;
    const codes = await stack.stop();
    expect([...codes.values()].every((code) => code === 0)).toBe(true);
  });
});
