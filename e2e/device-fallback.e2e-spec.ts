import { createKafka } from '@meterlink/kafka';
import { TOPICS, type MeterConnectivityRecord, type ProfileSwapRecord } from '@meterlink/contracts';
import { TopicRecorder, eventually } from '@meterlink/testing';
import type { MeterEvent } from '@meterlink/meter-sim';
import { issue6Stack, startFleet, swapsOf, type E2eFleet } from './support/issue6';

/**
 * Issue 6, "a meter that falls back on its own is reconciled and sent no contradicting swap":
 * carrier-a dies (no service at all) under a few meters whose fallback profile is carrier-b; after
 * their fallback delay they enable it by themselves. The platform learns it from their poll and
 * notification, records it (trigger device-fallback), follows it in the inventory, and never
 * sends them back.
 */
describe('a meter that falls back on its own', () => {
  const stack = issue6Stack({ basePort: 5220, logTag: 'e2e6-fallback' });
  const kafka = createKafka({ brokers: stack.infra.KAFKA_BROKERS.split(','), clientId: 'e2e6-fb' });
  const recorder = new TopicRecorder(kafka, [
    TOPICS.profileSwaps.name,
    TOPICS.meterConnectivity.name,
  ]);
  let fleet: E2eFleet | undefined;

  afterAll(async () => {
    await fleet?.simulator.stop();
    await recorder.stop();
    await stack.stop();
  });

  it('is reconciled into the inventory and the swap history, and left where it is', async () => {
    await recorder.start();
    await stack.start();
    const events: MeterEvent[] = [];
    fleet = await startFleet(stack, 'e2e-fallback.json');
    const f = fleet;
    f.simulator.onEvent((e) => events.push(e));
    const [carrierA, carrierB] = [f.carrier('carrier-a'), f.carrier('carrier-b')];
    const fallers = f.meters((m) => f.enabledCarrier(m.meterId) === carrierA);
    const others = f.meters((m) => f.enabledCarrier(m.meterId) === carrierB);
    expect(fallers).toHaveLength(3);

    // The meters fall back by themselves, with no help from the platform.
    await eventually(
      () => fallers.every((id) => events.some((e) => e.meterId === id && e.type === 'fallback')),
      { timeoutMs: 60_000, what: 'every meter of the dead carrier to fall back' },
    );

    // Reconciled: one device-fallback swap each, carrier-a → carrier-b, completed.
    const swaps = (ids: string[]): ProfileSwapRecord[] =>
      swapsOf(
        recorder.on<ProfileSwapRecord>(TOPICS.profileSwaps.name, () => true),
        ids,
      );
    await eventually(
      () =>
        fallers.every((id) =>
          swaps([id]).some((s) => s.trigger === 'device-fallback' && s.state === 'completed'),
        ),
      { timeoutMs: 30_000, what: 'a device-fallback swap record for every meter' },
    );
    for (const id of fallers) {
      const reconciled = swaps([id]).filter((s) => s.trigger === 'device-fallback');
      expect(reconciled).toEqual([
        expect.objectContaining({
          state: 'completed',
          fromCarrierId: carrierA,
          toCarrierId: carrierB,
        }),
      ]);
    }
    // The registry's inventory follows the meter.
    await eventually(
      async () => {
        const enabled = await Promise.all(
          fallers.map(async (id) => {
            const meter = (await stack.platform.registryGet(`/v1/meters/${id}`)) as {
              profiles: { carrierId: string; state: string }[];
            };
            return meter.profiles.find((p) => p.state === 'enabled')?.carrierId;
          }),
        );
        return enabled.every((c) => c === carrierB);
      },
      { timeoutMs: 30_000, what: 'the registry to show carrier-b enabled' },
    );

    // Then the meters report on carrier-b for a while (ten reports each, every one of them a chance
    // for the platform to act), and the platform sends them nothing back.
    const reportsOnB = (id: string): number =>
      recorder.on<MeterConnectivityRecord>(
        TOPICS.meterConnectivity.name,
        (c) => c.meterId === id && c.carrierId === carrierB,
      ).length;
    await eventually(() => fallers.every((id) => reportsOnB(id) >= 10), {
      timeoutMs: 60_000,
      what: 'ten reports on carrier-b from every meter that fell back',
    });
    for (const id of fallers) {
      expect(f.simulator.meterStatus(id)?.enabledCarrierId).toBe(carrierB);
      expect(events.filter((e) => e.meterId === id && e.type === 'packageExecuted')).toEqual([]);
      expect(swaps([id]).filter((s) => s.state === 'dispatched')).toEqual([]);
    }
    // Meters that were on carrier-b all along were never touched.
    expect(swaps(others)).toEqual([]);
  });
});
