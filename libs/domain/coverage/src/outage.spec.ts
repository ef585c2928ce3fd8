import {
  DEFAULT_OUTAGE_POLICY,
  emptyCarrierRegionState,
  evaluateCarrierRegion,
  outagePolicyProblems,
  resolveOutagePolicy,
  type CarrierEvent,
  type OutageOverride,
  type CarrierRegionState,
  type OutagePolicy,
} from './outage';

const MIN = 60_000;
const HOUR = 60 * MIN;
const policy: OutagePolicy = DEFAULT_OUTAGE_POLICY;
const idFor = (openedAt: number): string => `outage-${openedAt}`;

/** Feeds (minute, population, unhealthy) samples, one evaluation each; returns the events. */
function feed(
  samples: [number, number, number][],
  start: CarrierRegionState = emptyCarrierRegionState(),
  p: OutagePolicy = policy,
): { state: CarrierRegionState; events: CarrierEvent[] } {
  let state = start;
  const events: CarrierEvent[] = [];
  for (const [minute, population, unhealthy] of samples) {
    const decision = evaluateCarrierRegion(
      state,
      { at: minute * MIN, population, unhealthy },
      p,
      idFor,
    );
    state = decision.state;
    if (decision.event) events.push(decision.event);
  }
  return { state, events };
}

/** A population that sat at `unhealthy` of `population` for a day, one sample a minute. */
const steady = (population: number, unhealthy: number, minutes = 24 * 60) =>
  feed(Array.from({ length: minutes }, (_, m): [number, number, number] => [m, population, unhealthy]));

describe('carrier × region outage correlation', () => {
  it('opens an outage when the unhealthy share rises well above normal within the window', () => {
    const normal = steady(1_000, 30);
    const { events, state } = feed(
      [
        [1440, 1_000, 30],
        [1445, 1_000, 120],
        [1450, 1_000, 280],
      ],
      normal.state,
    );
    expect(events).toEqual([
      expect.objectContaining({
        type: 'carrier.outage',
        outageId: idFor(1450 * MIN),
        population: 1_000,
        unhealthy: 280,
        share: 0.28,
      }),
    ]);
    expect(events[0]!.baseline).toBeCloseTo(0.03, 2);
    expect(state.outage?.outageId).toBe(idFor(1450 * MIN));
  });

  it('measures "well above" against the population\'s own normal, not an absolute share', () => {
    // A carrier that always has 40 % of its meters in basements at the edge of coverage.
    const normal = steady(1_000, 400);
    expect(feed([[1440, 1_000, 520]], normal.state).events).toEqual([]);
    expect(feed([[1440, 1_000, 620]], normal.state).events.map((e) => e.type)).toEqual([
      'carrier.outage',
    ]);
  });

  it('does not open for a slow drift that the baseline follows', () => {
    // From 3 % to 40 % unhealthy over three days: no step within any 15-min window.
    const drift = Array.from({ length: 3 * 24 * 60 }, (_, m): [number, number, number] => [
      m,
      1_000,
      30 + Math.floor((370 * m) / (3 * 24 * 60)),
    ]);
    expect(feed(drift).events).toEqual([]);
  });

  it('does not open for a rise spread over more than the window', () => {
    // 30 → 510 unhealthy over two hours: far above normal in the end (the baseline lags by
    // hours), but never more than 6 points within one 15-min window.
    const normal = steady(1_000, 30);
    const ramp = Array.from({ length: 120 }, (_, m): [number, number, number] => [
      1440 + m,
      1_000,
      30 + 4 * m,
    ]);
    const { events, state } = feed(ramp, normal.state);
    expect(events).toEqual([]);
    expect(0.506 - state.baseline!).toBeGreaterThan(policy.entryExcess);
  });

  it('ignores populations too small to tell an outage from a building', () => {
    const small = steady(12, 0);
    expect(feed([[1440, 12, 12]], small.state).events).toEqual([]);
  });

  it('needs a minimum number of newly unhealthy meters, not just a share', () => {
    const normal = steady(30, 0);
    expect(feed([[1440, 30, 9]], normal.state).events).toEqual([]);
    expect(feed([[1440, 30, 10]], normal.state).events.map((e) => e.type)).toEqual([
      'carrier.outage',
    ]);
  });

  it('recovers only after the share stayed back near normal for the hold time', () => {
    const open = feed([[1440, 1_000, 400]], steady(1_000, 30).state);
    expect(open.events).toHaveLength(1);
    const healing = feed(
      [
        [1450, 1_000, 60],
        [1452, 1_000, 200], // relapse: the hold starts again
        [1453, 1_000, 50],
        [1457, 1_000, 50],
        [1458, 1_000, 50],
      ],
      open.state,
    );
    expect(healing.events).toEqual([
      expect.objectContaining({
        type: 'carrier.recovered',
        outageId: idFor(1440 * MIN),
        at: 1458 * MIN,
        openedAt: 1440 * MIN,
      }),
    ]);
    expect(healing.state.outage).toBeNull();
  });

  it('keeps the baseline frozen during the outage so that the outage never becomes normal', () => {
    const open = feed([[1440, 1_000, 400]], steady(1_000, 30).state);
    const long = feed(
      Array.from({ length: 24 * 60 }, (_, m): [number, number, number] => [1441 + m, 1_000, 400]),
      open.state,
    );
    expect(long.events).toEqual([]);
    expect(long.state.outage?.baseline).toBe(open.state.outage?.baseline);
  });

  it('stays open while no meters are left on the carrier in the region', () => {
    const open = feed([[1440, 1_000, 400]], steady(1_000, 30).state);
    const empty = feed(
      Array.from({ length: 60 }, (_, m): [number, number, number] => [1441 + m, 0, 0]),
      open.state,
    );
    expect(empty.events).toEqual([]);
    expect(empty.state.outage).not.toBeNull();
  });

  it('learns normal from the first meters it sees', () => {
    const { state } = feed([
      [0, 0, 0],
      [1, 50, 1],
    ]);
    expect(state.baseline).toBeCloseTo(0.02, 5);
  });

  it('weighs the baseline by time, so evaluating more often does not make it adapt faster', () => {
    const start = steady(1_000, 0, 10).state;
    const everyMinute = feed(
      Array.from({ length: 60 }, (_, m): [number, number, number] => [10 + m, 1_000, 100]),
      start,
    ).state.baseline!;
    const once = feed([[69, 1_000, 100]], start).state.baseline!;
    expect(everyMinute).toBeCloseTo(once, 3);
    expect(once).toBeCloseTo(0.1 * (1 - Math.pow(2, -(60 * MIN) / (6 * HOUR))), 3);
  });
});

describe('outage policy per region and carrier', () => {
  const overrides: OutageOverride[] = [
    { region: 'rural', policy: { minPopulation: 8, minAffected: 4 } },
    { carrierId: 'carrier-a', policy: { minAffected: 12, recoveryHoldMs: 10 * MIN } },
    { region: 'rural', carrierId: 'carrier-a', policy: { minAffected: 6 } },
    { region: 'city', policy: { entryExcess: 0.35, entryRise: undefined } },
  ];

  it('applies overrides from the least to the most specific', () => {
    expect(resolveOutagePolicy('carrier-b', 'north', policy, overrides)).toEqual(policy);
    expect(resolveOutagePolicy('carrier-b', 'rural', policy, overrides)).toEqual({
      ...policy,
      minPopulation: 8,
      minAffected: 4,
    });
    expect(resolveOutagePolicy('carrier-a', 'north', policy, overrides)).toEqual({
      ...policy,
      minAffected: 12,
      recoveryHoldMs: 10 * MIN,
    });
    // carrier and region beat region, which beats carrier, whatever the order given.
    for (const order of [overrides, [...overrides].reverse()])
      expect(resolveOutagePolicy('carrier-a', 'rural', policy, order)).toEqual({
        ...policy,
        minPopulation: 8,
        minAffected: 6,
        recoveryHoldMs: 10 * MIN,
      });
  });

  it('keeps the base where an override leaves a field undefined', () => {
    expect(resolveOutagePolicy('carrier-b', 'city', policy, overrides)).toEqual({
      ...policy,
      entryExcess: 0.35,
    });
  });

  it('lets a small rural population open an outage that the defaults would ignore', () => {
    const rural = resolveOutagePolicy('carrier-b', 'rural', policy, overrides);
    // 10 meters, all healthy for an hour, then 6 of them lost within 5 minutes.
    const samples: [number, number, number][] = [
      ...Array.from({ length: 60 }, (_, m): [number, number, number] => [m, 10, 0]),
      [61, 10, 3],
      [63, 10, 6],
    ];
    expect(feed(samples).events).toEqual([]);
    expect(feed(samples, emptyCarrierRegionState(), rural).events.map((e) => e.type)).toEqual([
      'carrier.outage',
    ]);
  });

  it('refuses a policy whose outages could never heal, and lets one switch correlation off', () => {
    expect(outagePolicyProblems(policy)).toEqual([]);
    expect(outagePolicyProblems({ ...policy, exitExcess: 0.3 })).toEqual([
      'exitExcess (0.3) must be below entryExcess (0.2)',
    ]);
    expect(outagePolicyProblems({ ...policy, exitExcess: 0.2 })).toHaveLength(1);
    // More affected meters than any population: never opens, which is how tests switch it off.
    expect(outagePolicyProblems({ ...policy, minAffected: 1_000_000 })).toEqual([]);
  });
});
