import { createKafka } from '@meterlink/kafka';
import { TOPICS, type ProfileSwapRecord } from '@meterlink/contracts';
import { TopicRecorder, eventually } from '@meterlink/testing';
import {
  issue6Stack,
  startFleet,
  swapsOf,
  type CampaignView,
  type E2eFleet,
} from './support/issue6';

/**
 * Issue 6, "the target carrier dead too → rollbacks, and the campaign pauses at its error
 * threshold": carrier-a degrades in a region where carrier-b, the only alternative, has no service
 * at all (and no meter of its own there to betray it). The canary meters switch, cannot attach,
 * roll back on their own; the campaign stops growing and pauses with its reason.
 */
describe('a carrier outage where the target carrier is dead too', () => {
  const stack = issue6Stack({
    basePort: 5210,
    logTag: 'e2e6-target-dead',
    extraEnv: {
      // Meters scrape through the dead carrier now and then: that must not end the outage.
      'coverage-monitor': { COVERAGE_OUTAGE_RECOVERY_HOLD_S: '120' },
      'profile-orchestrator': { OUTAGE_MIN_DURATION_S: '5', OUTAGE_CAMPAIGN_CANARY: '4' },
    },
  });
  const kafka = createKafka({ brokers: stack.infra.KAFKA_BROKERS.split(','), clientId: 'e2e6-td' });
  const recorder = new TopicRecorder(kafka, [TOPICS.profileSwaps.name]);
  let fleet: E2eFleet | undefined;

  afterAll(async () => {
    await fleet?.simulator.stop();
    await recorder.stop();
    await stack.stop();
  });

  it('rolls the canary back and pauses the campaign at its error threshold', async () => {
    await recorder.start();
    await stack.start();
    fleet = await startFleet(stack, 'e2e-target-dead.json');
    const f = fleet;
    const [carrierA, carrierB] = [f.carrier('carrier-a'), f.carrier('carrier-b')];
    const meters = f.meters(() => true);
    const rollbacks: string[] = [];
    f.simulator.onEvent((e) => {
      if (e.type === 'rolledBack') rollbacks.push(e.meterId);
    });

    const campaignId = await eventually(
      async () =>
        (await stack.api.campaigns()).find(
          (c) => c.trigger === 'carrier-outage' && c.targetCarrierId === carrierB,
        )?.campaignId,
      { timeoutMs: 180_000, intervalMs: 1_000, what: 'an automatic campaign towards carrier-b' },
    );

    let last: CampaignView | undefined;
    const paused = await eventually(
      async () => {
        last = await stack.api.campaign(campaignId);
        return last.state === 'paused' ? last : undefined;
      },
      {
        timeoutMs: 180_000,
        intervalMs: 1_000,
        what: 'the campaign to pause',
        detail: () => JSON.stringify(last),
      },
    );
    expect(paused.pausedReason).toMatch(/error|threshold|rolled/i);
    expect(paused.totals.rolledBack).toBeGreaterThan(0);
    expect(paused.totals.completed).toBe(0);
    // It stopped at the canary: no wave after the one that failed started.
    expect(paused.waves.filter((w) => w.started > 0)).toHaveLength(1);
    expect(paused.waves[0]!.size).toBe(4);

    // Every swap that was tried ended rolled back, and those meters really went back to carrier-a.
    const swaps = (): ProfileSwapRecord[] =>
      swapsOf(
        recorder.on<ProfileSwapRecord>(TOPICS.profileSwaps.name, () => true),
        meters,
      );
    await eventually(
      () => {
        const rolled = swaps().filter((s) => s.state === 'rolled-back');
        return rolled.length === paused.totals.rolledBack ? rolled : undefined;
      },
      { timeoutMs: 30_000, what: 'the rolled-back swap records' },
    );
    const tried = new Set(swaps().map((s) => s.meterId));
    for (const meterId of tried) {
      expect(swaps().filter((s) => s.meterId === meterId && s.state === 'completed')).toEqual([]);
      expect(rollbacks).toContain(meterId);
      expect(f.simulator.meterStatus(meterId)?.enabledCarrierId).toBe(carrierA);
    }
    expect(tried.size).toBeLessThanOrEqual(4);
    // The rest of the region was never touched.
    for (const meterId of meters.filter((id) => !tried.has(id)))
      expect(f.simulator.meterStatus(meterId)?.enabledCarrierId).toBe(carrierA);

    // The operator's emergency stop ends it: the meters never started stay where they are.
    await stack.api.ok('POST', `/v1/campaigns/${campaignId}/stop`);
    const stopped = await stack.api.campaign(campaignId);
    expect(stopped.state).toBe('stopped');
    expect(stopped.totals.completed).toBe(0);
    expect(stopped.totals.inFlight).toBe(0);
  });
});
