import { createKafka } from '@meterlink/kafka';
import { TOPICS, type ProfileSwapRecord } from '@meterlink/contracts';
import { TopicRecorder, eventually, readMetric } from '@meterlink/testing';
import type { MeterEvent } from '@meterlink/meter-sim';
import { issue6Stack, startFleet, statesBySwap, swapsOf, type E2eFleet } from './support/issue6';

/**
 * Issue 6, "a replayed or forged result is rejected": two meters whose carrier degrades get a
 * swap each. The first answers its package with a forged success (signed with a stranger's key,
 * the scenario's `forgedResult` injection) instead of executing it; the second, once its swap is
 * done, publishes its genuine result again. Neither moves the platform.
 */
describe('forged and replayed package results', () => {
  const stack = issue6Stack({ basePort: 5230, logTag: 'e2e6-attacks' });
  const kafka = createKafka({ brokers: stack.infra.KAFKA_BROKERS.split(','), clientId: 'e2e6-at' });
  const recorder = new TopicRecorder(kafka, [TOPICS.profileSwaps.name]);
  let fleet: E2eFleet | undefined;

  afterAll(async () => {
    await fleet?.simulator.stop();
    await recorder.stop();
    await stack.stop();
  });

  it('refuses a forged result and ignores a replayed one', async () => {
    await recorder.start();
    await stack.start();
    const orchestrator = stack.platform.service('profile-orchestrator').baseUrl;
    const invalidBefore = await readMetric(orchestrator, 'orchestrator_invalid_results_total');
    const events: MeterEvent[] = [];
    fleet = await startFleet(stack, 'e2e-attacks.json');
    const f = fleet;
    f.simulator.onEvent((e) => events.push(e));
    const [forger, replayer] = f.meters(() => true) as [string, string];
    const carrierB = f.carrier('carrier-b');
    const swaps = (id: string): ProfileSwapRecord[] =>
      swapsOf(
        recorder.on<ProfileSwapRecord>(TOPICS.profileSwaps.name, () => true),
        [id],
      );

    // The forger's package comes; it answers with a forged success and executes nothing.
    const forged = await eventually(
      () => events.find((e) => e.meterId === forger && e.type === 'resultInjected'),
      { timeoutMs: 120_000, intervalMs: 250, what: 'the forged result to be sent' },
    );
    await eventually(
      async () =>
        (await readMetric(orchestrator, 'orchestrator_invalid_results_total')) > invalidBefore,
      { timeoutMs: 30_000, what: 'the orchestrator to count a refused result' },
    );
    expect(swaps(forger).map((s) => s.state)).toEqual(['requested', 'dispatched']);
    expect(f.simulator.meterStatus(forger)?.enabledCarrierId).toBe(f.carrier('carrier-a'));

    // The meter polls: the package comes again (it was not taken as executed) and now runs.
    expect(f.simulator.poll(forger)).toBe(true);
    await eventually(() => swaps(forger).some((s) => s.state === 'completed'), {
      timeoutMs: 60_000,
      what: 'the forger’s swap to complete on its genuine result',
    });
    const executed = events.filter((e) => e.meterId === forger && e.type === 'packageExecuted');
    expect(executed).toHaveLength(1);
    expect(executed[0]).toMatchObject({
      eimTransactionId: (forged as Extract<MeterEvent, { type: 'resultInjected' }>)
        .eimTransactionId,
    });
    expect(executed[0]!.at).toBeGreaterThan(forged.at);
    expect([...statesBySwap(swaps(forger)).values()]).toEqual([
      ['requested', 'dispatched', 'completed'],
    ]);

    // The replayer completes its swap, then publishes the same signed result again.
    await eventually(() => swaps(replayer).some((s) => s.state === 'completed'), {
      timeoutMs: 120_000,
      what: 'the replayer’s swap to complete',
    });
    await eventually(() => f.simulator.meterStatus(replayer)?.pendingSeqNumbers.length === 0, {
      timeoutMs: 30_000,
      what: 'the replayer’s result to be acknowledged',
    });
    const before = swaps(replayer);
    expect(f.simulator.inject(replayer, 'replayedResult')).toBe(true);
    // A poll after it: its answer proves the orchestrator has handled the replay (same meter,
    // same partition, in order).
    const polledAt = Date.now();
    expect(f.simulator.poll(replayer)).toBe(true);
    await eventually(
      () =>
        events.some(
          (e) =>
            e.meterId === replayer &&
            e.type === 'downlink' &&
            e.messageType === 'noEimPackageAvailable' &&
            e.at >= polledAt,
        ),
      { timeoutMs: 30_000, what: 'the answer to the poll after the replay' },
    );
    expect(swaps(replayer)).toEqual(before);
    expect([...statesBySwap(swaps(replayer)).values()]).toEqual([
      ['requested', 'dispatched', 'completed'],
    ]);
    expect(f.simulator.meterStatus(replayer)?.enabledCarrierId).toBe(carrierB);
  });
});
