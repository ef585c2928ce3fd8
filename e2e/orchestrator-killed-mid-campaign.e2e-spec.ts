import { createKafka } from '@meterlink/kafka';
import { TOPICS, type ProfileSwapRecord } from '@meterlink/contracts';
import { TopicRecorder, eventually } from '@meterlink/testing';
import type { MeterEvent } from '@meterlink/meter-sim';
import {
  issue6Stack,
  startFleet,
  swapsOf,
  type CampaignView,
  type E2eFleet,
} from './support/issue6';

/**
 * Issue 6, "the orchestrator killed mid-campaign resumes with no duplicate package": an operator's
 * supplier change for a region (carrier-a → carrier-b, some meters needing a download), the
 * orchestrator SIGKILLed while a wave is in flight and started again. The campaign completes;
 * every meter got one swap, one package and at most one SM-DP+ order.
 */
describe('the orchestrator killed in the middle of a campaign', () => {
  const stack = issue6Stack({ basePort: 5240, logTag: 'e2e6-killed' });
  const kafka = createKafka({ brokers: stack.infra.KAFKA_BROKERS.split(','), clientId: 'e2e6-kl' });
  const recorder = new TopicRecorder(kafka, [TOPICS.profileSwaps.name]);
  let fleet: E2eFleet | undefined;

  afterAll(async () => {
    await fleet?.simulator.stop();
    await recorder.stop();
    await stack.stop();
  });

  it('resumes after a restart and completes with no duplicate package, swap or order', async () => {
    await recorder.start();
    await stack.start();
    const events: MeterEvent[] = [];
    fleet = await startFleet(stack, 'e2e-supplier-change.json');
    const f = fleet;
    f.simulator.onEvent((e) => events.push(e));
    const [carrierA, carrierB, north] = [
      f.carrier('carrier-a'),
      f.carrier('carrier-b'),
      f.region('north'),
    ];
    const movers = f.meters((m) => m.region === north);
    const needDownload = f.meters(
      (m) => m.region === north && !m.profiles.some((p) => p.carrierId === carrierB),
    );
    const bystanders = f.meters((m) => m.region !== north);
    expect(movers).toHaveLength(20);
    // Slow SM-DP+ answers keep a wave in flight long enough to kill the orchestrator in it.
    await stack.smdp.configure(carrierB, { latencyMs: 400 });

    const created = await stack.api.ok<{ campaignId: string; state: string; meterCount: number }>(
      'POST',
      '/v1/campaigns',
      {
        name: `supplier change ${north}`,
        reason: 'e2e: new connectivity contract',
        selector: { region: north, fromCarrierId: carrierA },
        targetCarrierId: carrierB,
        waves: { canarySize: 2, growthFactor: 3, maxWaveSize: 10 },
      },
    );
    expect(created).toMatchObject({ state: 'running', meterCount: movers.length });
    const { campaignId } = created;

    // Kill it while the second wave is in flight.
    let last: CampaignView | undefined;
    await eventually(
      async () => {
        last = await stack.api.campaign(campaignId);
        return (last.waves[1]?.inFlight ?? 0) > 0;
      },
      {
        timeoutMs: 180_000,
        intervalMs: 200,
        what: 'the second wave in flight',
        detail: () => JSON.stringify(last),
      },
    );
    const orchestrator = stack.platform.service('profile-orchestrator');
    await orchestrator.stop('SIGKILL');
    await orchestrator.start();

    const done = await eventually(
      async () => {
        last = await stack.api.campaign(campaignId);
        return last.state === 'completed' ? last : undefined;
      },
      {
        timeoutMs: 300_000,
        intervalMs: 1_000,
        what: 'the campaign to complete after the restart',
        detail: () => JSON.stringify(last),
      },
    );
    expect(done.totals).toMatchObject({
      completed: movers.length,
      rolledBack: 0,
      failed: 0,
      inFlight: 0,
      pending: 0,
    });

    // One swap per meter, completed once.
    const swaps = (): ProfileSwapRecord[] =>
      swapsOf(
        recorder.on<ProfileSwapRecord>(TOPICS.profileSwaps.name, () => true),
        movers,
      );
    await eventually(
      () => movers.every((id) => swaps().some((s) => s.meterId === id && s.state === 'completed')),
      { timeoutMs: 30_000, what: 'a completed swap record for every meter' },
    );
    for (const meterId of movers) {
      const ofMeter = swaps().filter((s) => s.meterId === meterId);
      expect(new Set(ofMeter.map((s) => s.swapId)).size).toBe(1);
      expect(ofMeter.filter((s) => s.state === 'completed')).toHaveLength(1);
    }
    // One package per meter: every meter executed exactly one eIM package (a package delivered
    // again is answered from the meter's store, never a second transaction).
    for (const meterId of movers) {
      const executed = events.filter((e) => e.meterId === meterId && e.type === 'packageExecuted');
      expect(executed).toHaveLength(1);
      expect(f.simulator.meterStatus(meterId)?.enabledCarrierId).toBe(carrierB);
    }
    const rejected = events.filter((e) => e.type === 'packageRejected');
    expect(rejected).toEqual([]);
    // One SM-DP+ order per meter that needed a download (retries reuse their functionCallIdentifier).
    const smdp = await stack.smdp.stats(carrierB);
    expect(smdp).toMatchObject({
      orders: needDownload.length,
      downloads: needDownload.length,
      openOrders: 0,
    });
    const downloads = events.filter(
      (e) => e.type === 'downloadCompleted' && e.result === 'installed',
    );
    expect(downloads.map((e) => e.meterId).sort()).toEqual([...needDownload].sort());
    expect(
      swapsOf(
        recorder.on<ProfileSwapRecord>(TOPICS.profileSwaps.name, () => true),
        bystanders,
      ),
    ).toEqual([]);
  });
});
