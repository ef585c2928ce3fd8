import {
  DEFAULT_CHOOSE_TARGET_CONFIG as CONFIG,
  REFUSAL_REASONS,
  chooseTarget,
  type CarrierCoverageStats,
  type ChooseTargetDecision,
  type ChooseTargetInput,
  type PolicyHistoryEntry,
  type RefusalReason,
  type OutageFacts,
  type TariffFacts,
} from './choose-target';
import type { InventoryProfile } from './decide-swap';
import { seeded, type Seeded } from '@meterlink/testing';

const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const NOW = 1000 * DAY;

const A: InventoryProfile = {
  iccid: '8944150000000000017',
  carrierId: 'carrier-a',
  state: 'enabled',
};
const B: InventoryProfile = {
  iccid: '8944200000000000022',
  carrierId: 'carrier-b',
  state: 'disabled',
};
const C: InventoryProfile = {
  iccid: '8944300000000000033',
  carrierId: 'carrier-c',
  state: 'disabled',
};

const TARIFF: TariffFacts = {
  monthlyFeeMinor: 60,
  perMbMinor: 25,
  downloadFeeMinor: 150,
  swapFeeMinor: 20,
};
const GOOD_REGION: CarrierCoverageStats = {
  samples: 50,
  lost: 1,
  degraded: 2,
  medianRsrpDbm: -100,
};
const GOOD_CELL: CarrierCoverageStats = { samples: 10, lost: 0, degraded: 1, medianRsrpDbm: -100 };

/**
 * A meter on carrier-a, degraded, with carrier-b's profile on its eUICC and carrier-c's not.
 * Three carriers under contract (a, b, c), all with good coverage and the same tariff; nothing
 * is known of carrier-a's other meters, so the fault can't be called the meter's own.
 */
const input = (over: Partial<ChooseTargetInput> = {}): ChooseTargetInput => ({
  now: NOW,
  cause: { kind: 'meter.degraded' },
  profiles: [A, B],
  regionCarriers: ['carrier-a', 'carrier-b', 'carrier-c'],
  carriersInOutage: new Set(),
  tariffs: { 'carrier-a': TARIFF, 'carrier-b': TARIFF, 'carrier-c': TARIFF },
  coverage: {
    region: { 'carrier-b': GOOD_REGION, 'carrier-c': GOOD_REGION },
    cell: { 'carrier-b': GOOD_CELL, 'carrier-c': GOOD_CELL },
  },
  power: { source: 'mains' },
  typicalMonthlyBytes: 2_000_000,
  hasActiveSwap: false,
  history: [],
  ...over,
});

const oldOutage = (carrierId = 'carrier-a'): OutageFacts => ({
  outageId: 'out-1',
  carrierId,
  openedAt: NOW - 2 * HOUR,
});

const outcome = (d: ChooseTargetDecision): string =>
  d.action === 'none'
    ? `none:${d.reason}`
    : d.needsDownload
      ? `download:${d.toCarrierId}`
      : `enable:${d.toCarrierId}`;

const change = (
  fromCarrierId: string,
  toCarrierId: string,
  agoMs: number,
  energyOps?: PolicyHistoryEntry['energyOps'],
): PolicyHistoryEntry => ({
  fromCarrierId,
  toCarrierId,
  at: NOW - agoMs,
  ...(energyOps ? { energyOps } : {}),
});

const battery = (batteryPct: number | null): ChooseTargetInput['power'] => ({
  source: 'battery',
  batteryPct,
});

const run = (i: ChooseTargetInput, config = CONFIG): ChooseTargetDecision =>
  chooseTarget(i, config);

describe('chooseTarget', () => {
  describe('decision shape', () => {
    it('enables a profile already on the eUICC: toIccid, no download', () => {
      const d = run(input());
      expect(d).toMatchObject({
        action: 'swap',
        needsDownload: false,
        fromIccid: A.iccid,
        fromCarrierId: 'carrier-a',
        toCarrierId: 'carrier-b',
        toIccid: B.iccid,
      });
    });

    it('asks for a download when the chosen carrier has no profile on the eUICC, with no toIccid', () => {
      const d = run(input({ profiles: [A] }));
      expect(d).toMatchObject({ action: 'swap', needsDownload: true, toCarrierId: 'carrier-b' });
      expect(d).not.toHaveProperty('toIccid');
    });

    it('carries JSON-serialisable facts: every candidate, its reason, the ranking and the config', () => {
      const d = run(input({ carriersInOutage: new Set(['carrier-c']) }));
      expect(JSON.parse(JSON.stringify(d.facts))).toEqual(d.facts);
      expect(d.facts).toMatchObject({
        policy: 'swap-policy/2',
        now: NOW,
        currentCarrierId: 'carrier-a',
        currentIccid: A.iccid,
        ranking: ['carrier-b'],
        config: CONFIG,
      });
      expect(d.facts.candidates.map((c) => [c.carrierId, c.excluded, c.needsDownload])).toEqual([
        ['carrier-b', null, false],
        ['carrier-c', 'carrier_in_outage', true],
      ]);
    });

    it('states costs over the horizon: monthly fee and data for 12 months, swap fee, download fee when needed', () => {
      const d = run(input());
      const [b, c] = d.facts.candidates;
      // 12 × (60 + 25 × 2 MB) + 20 = 1340; carrier-c also pays the 150 download fee.
      expect(b?.horizonCostMinor).toBe(1340);
      expect(c?.horizonCostMinor).toBe(1490);
    });

    it('keeps facts for refusals too', () => {
      const d = run(input({ hasActiveSwap: true }));
      expect(d).toMatchObject({ action: 'none', reason: 'swap_in_progress' });
      expect(d.facts.candidates).toHaveLength(2);
    });
  });

  describe('meter-level refusals, in order', () => {
    it.each<[string, Partial<ChooseTargetInput>, string]>([
      [
        'a swap in progress, before anything else',
        { hasActiveSwap: true, profiles: [B] },
        'none:swap_in_progress',
      ],
      ['no enabled profile', { profiles: [B, C] }, 'none:no_enabled_profile'],
      [
        'an operator target that is the current carrier',
        { cause: { kind: 'operator', targetCarrierId: 'carrier-a' } },
        'none:already_on_target',
      ],
      [
        'one silent meter, not part of an outage',
        { cause: { kind: 'meter.lost' } },
        'none:meter_unreachable',
      ],
      [
        'a silent meter whose carrier is out (old enough) is moved',
        { cause: { kind: 'meter.lost', outage: oldOutage() } },
        'enable:carrier-b',
      ],
      [
        'a silent meter in a young outage',
        { cause: { kind: 'meter.lost', outage: { ...oldOutage(), openedAt: NOW - 5 * MIN } } },
        'none:outage_too_young',
      ],
      [
        'a degraded meter in a young outage: a blip moves nothing',
        { cause: { kind: 'meter.degraded', outage: { ...oldOutage(), openedAt: NOW - 1 } } },
        'none:outage_too_young',
      ],
      [
        'an outage campaign before the outage is old enough',
        {
          cause: {
            kind: 'carrier-outage',
            outage: { ...oldOutage(), openedAt: NOW - CONFIG.outageMinDurationMs + 1 },
          },
        },
        'none:outage_too_young',
      ],
      [
        'an outage campaign exactly at the minimum duration',
        {
          cause: {
            kind: 'carrier-outage',
            outage: { ...oldOutage(), openedAt: NOW - CONFIG.outageMinDurationMs },
          },
        },
        'enable:carrier-b',
      ],
      [
        'within the cooldown of the last change',
        { history: [change('carrier-c', 'carrier-a', CONFIG.cooldownMs - 1)] },
        'none:cooldown',
      ],
      [
        'exactly at the end of the cooldown',
        { history: [change('carrier-c', 'carrier-a', CONFIG.cooldownMs)] },
        'enable:carrier-b',
      ],
      [
        'a device fallback counts as a change for the cooldown',
        { history: [change('carrier-b', 'carrier-a', HOUR)] },
        'none:cooldown',
      ],
      [
        'the latest change counts, whatever the order of the history',
        {
          history: [
            change('carrier-c', 'carrier-a', HOUR),
            change('carrier-a', 'carrier-c', 30 * DAY),
          ],
        },
        'none:cooldown',
      ],
    ])('%s', (_name, over, expected) => {
      expect(outcome(run(input(over)))).toBe(expected);
    });

    it('cooldown holds in an old outage: the meter’s own fallback covers it', () => {
      expect(
        outcome(
          run(
            input({
              cause: { kind: 'carrier-outage', outage: oldOutage() },
              history: [change('carrier-b', 'carrier-a', HOUR)],
            }),
          ),
        ),
      ).toBe('none:cooldown');
    });

    it('a young outage is reported before the cooldown', () => {
      expect(
        outcome(
          run(
            input({
              cause: { kind: 'carrier-outage', outage: { ...oldOutage(), openedAt: NOW - MIN } },
              history: [change('carrier-b', 'carrier-a', HOUR)],
            }),
          ),
        ),
      ).toBe('none:outage_too_young');
    });
  });

  describe('the meter’s own fault', () => {
    const onA = (
      cell?: CarrierCoverageStats,
      region?: CarrierCoverageStats,
    ): ChooseTargetInput['coverage'] => ({
      region: {
        'carrier-b': GOOD_REGION,
        'carrier-c': GOOD_REGION,
        ...(region ? { 'carrier-a': region } : {}),
      },
      cell: {
        'carrier-b': GOOD_CELL,
        'carrier-c': GOOD_CELL,
        ...(cell ? { 'carrier-a': cell } : {}),
      },
    });
    const stats = (
      samples: number,
      degraded: number,
      lost = 0,
      medianRsrpDbm: number | null = -100,
    ): CarrierCoverageStats => ({
      samples,
      degraded,
      lost,
      medianRsrpDbm,
    });

    it.each<[string, CarrierCoverageStats | undefined, CarrierCoverageStats | undefined, string]>([
      [
        'cell and region fine: the meter is the problem',
        stats(10, 1),
        stats(50, 3),
        'none:meter_fault',
      ],
      ['cell fine, region unknown (few samples)', stats(10, 1), stats(5, 0), 'none:meter_fault'],
      [
        'cell fine, region poor: not only this meter',
        stats(10, 1),
        stats(50, 15),
        'enable:carrier-b',
      ],
      [
        'cell unknown: nothing proves the fault is the meter’s',
        stats(5, 1),
        stats(50, 1),
        'enable:carrier-b',
      ],
      ['no stats at all for its carrier', undefined, undefined, 'enable:carrier-b'],
      // 11 meters with 2 degraded, this one included: its 10 peers have 1 degraded, exactly 10 %.
      [
        'peers exactly at the "fine" share once this meter is discounted',
        stats(11, 2),
        undefined,
        'none:meter_fault',
      ],
      ['peers just above the "fine" share', stats(11, 3), undefined, 'enable:carrier-b'],
      [
        'peers all attached but with a poor median RSRP: a bad cell',
        stats(10, 0, 0, -121),
        undefined,
        'enable:carrier-b',
      ],
      [
        'peers exactly at the minimum median RSRP',
        stats(10, 0, 0, -120),
        undefined,
        'none:meter_fault',
      ],
    ])('%s', (_name, cell, region, expected) => {
      expect(outcome(run(input({ coverage: onA(cell, region) })))).toBe(expected);
    });

    describe('from its region peers, when configured and nothing is known of its cell', () => {
      const REGION_PEERS = { ...CONFIG, meterFaultFromRegionPeers: true };
      it.each<
        [string, CarrierCoverageStats | undefined, CarrierCoverageStats | undefined, string, string]
      >([
        // name, cell, region, with the setting, without it (the default)
        [
          'no cell stats, region peers fine: the meter is the problem',
          undefined,
          stats(40, 1),
          'none:meter_fault',
          'enable:carrier-b',
        ],
        [
          'this meter alone in its cell (no peers there), region peers fine',
          stats(1, 1),
          stats(40, 1),
          'none:meter_fault',
          'enable:carrier-b',
        ],
        // 41 meters with 5 degraded, this one included: its 40 peers have 4 degraded, exactly 10 %.
        [
          'region peers exactly at the "fine" share',
          undefined,
          stats(41, 5),
          'none:meter_fault',
          'enable:carrier-b',
        ],
        [
          'region peers just above the "fine" share',
          undefined,
          stats(40, 5),
          'enable:carrier-b',
          'enable:carrier-b',
        ],
        [
          'region peers too few to tell (unknown)',
          undefined,
          stats(20, 1),
          'enable:carrier-b',
          'enable:carrier-b',
        ],
        [
          'region peers with a poor median RSRP',
          undefined,
          stats(40, 1, 0, -121),
          'enable:carrier-b',
          'enable:carrier-b',
        ],
        [
          'no stats at all for its carrier',
          undefined,
          undefined,
          'enable:carrier-b',
          'enable:carrier-b',
        ],
        // Some cell peers on record: the cell decides, as without the setting.
        [
          'a few cell peers (unknown), region fine: the cell may be the problem',
          stats(3, 1),
          stats(40, 1),
          'enable:carrier-b',
          'enable:carrier-b',
        ],
        [
          'cell peers poor, region fine: a bad cell, not the meter',
          stats(10, 4),
          stats(40, 4),
          'enable:carrier-b',
          'enable:carrier-b',
        ],
        [
          'cell peers fine, region peers too few: as without the setting',
          stats(10, 1),
          stats(5, 0),
          'none:meter_fault',
          'none:meter_fault',
        ],
      ])('%s', (_name, cell, region, withSetting, byDefault) => {
        expect(outcome(run(input({ coverage: onA(cell, region) }), REGION_PEERS))).toBe(
          withSetting,
        );
        expect(outcome(run(input({ coverage: onA(cell, region) })))).toBe(byDefault);
      });

      it('never when the carrier is in an outage, the meter is silent, or an operator asks', () => {
        const coverage = onA(undefined, stats(40, 1));
        const decide = (over: Partial<ChooseTargetInput>): string =>
          outcome(run(input({ coverage, ...over }), REGION_PEERS));
        expect(decide({ cause: { kind: 'meter.degraded', outage: oldOutage() } })).toBe(
          'enable:carrier-b',
        );
        expect(decide({ cause: { kind: 'meter.lost' } })).toBe('none:meter_unreachable');
        expect(decide({ cause: { kind: 'operator', targetCarrierId: 'carrier-b' } })).toBe(
          'enable:carrier-b',
        );
      });

      it('states the peers it judged by in the facts', () => {
        const d = run(input({ coverage: onA(undefined, stats(40, 1)) }), REGION_PEERS);
        expect(d.facts.currentCarrierPeers).toMatchObject({
          cell: { class: 'unknown', samples: 0 },
          region: { class: 'good', samples: 39, unhealthyShare: 0 },
        });
        expect(d.facts.config.meterFaultFromRegionPeers).toBe(true);
      });
    });

    it('discounts this meter as lost, not degraded, when it is silent in an outage (and the outage rules)', () => {
      const d = run(
        input({
          cause: { kind: 'meter.lost', outage: oldOutage() },
          coverage: onA(stats(10, 0, 1), undefined),
        }),
      );
      expect(outcome(d)).toBe('enable:carrier-b');
      expect(d.facts.currentCarrierPeers?.cell).toMatchObject({ samples: 9, unhealthyShare: 0 });
    });

    it('is never the meter’s fault when its carrier has an outage', () => {
      expect(
        outcome(
          run(
            input({
              cause: { kind: 'meter.degraded', outage: oldOutage() },
              coverage: onA(stats(10, 0), stats(50, 0)),
            }),
          ),
        ),
      ).toBe('enable:carrier-b');
    });
  });

  describe('candidates set aside', () => {
    it.each<[string, Partial<ChooseTargetInput>, string]>([
      [
        'carriers in outage are never a target: the next one is taken',
        { carriersInOutage: new Set(['carrier-b']) },
        'download:carrier-c',
      ],
      [
        'every other carrier in outage',
        { carriersInOutage: new Set(['carrier-b', 'carrier-c']) },
        'none:carrier_in_outage',
      ],
      [
        'no other carrier under contract in the region',
        { regionCarriers: ['carrier-a'] },
        'none:no_target_carrier',
      ],
      [
        'a carrier not under contract is not a candidate, even with its profile on the eUICC',
        { regionCarriers: ['carrier-a', 'carrier-c'] },
        'download:carrier-c',
      ],
      [
        'an operator target not under contract',
        {
          cause: { kind: 'operator', targetCarrierId: 'carrier-z' },
          profiles: [A, B, { ...C, carrierId: 'carrier-z' }],
        },
        'none:not_under_contract',
      ],
      [
        'a carrier with no catalogue entry cannot be downloaded',
        { regionCarriers: ['carrier-a', 'carrier-c'], tariffs: { 'carrier-a': TARIFF } },
        'none:unknown_carrier',
      ],
      [
        'a carrier with no catalogue entry can still be enabled when its profile is there',
        {
          regionCarriers: ['carrier-a', 'carrier-c'],
          profiles: [A, C],
          tariffs: { 'carrier-a': TARIFF },
        },
        'enable:carrier-c',
      ],
      [
        'reasons that differ: no_eligible_target',
        { carriersInOutage: new Set(['carrier-b']), tariffs: {} },
        'none:no_eligible_target',
      ],
    ])('%s', (_name, over, expected) => {
      expect(outcome(run(input(over)))).toBe(expected);
    });

    it('lists each candidate’s own reason when the refusal is no_eligible_target', () => {
      const d = run(input({ carriersInOutage: new Set(['carrier-b']), tariffs: {} }));
      expect(d.facts.candidates.map((c) => c.excluded)).toEqual([
        'carrier_in_outage',
        'unknown_carrier',
      ]);
    });
  });

  describe('anti-flapping', () => {
    it.each<[string, PolicyHistoryEntry[], string]>([
      [
        'A → B → A within the window: B is refused, C taken',
        [change('carrier-b', 'carrier-a', 3 * DAY)],
        'download:carrier-c',
      ],
      [
        'exactly at the window’s end: B again',
        [change('carrier-b', 'carrier-a', CONFIG.antiFlapWindowMs)],
        'enable:carrier-b',
      ],
      [
        'just inside the window',
        [change('carrier-b', 'carrier-a', CONFIG.antiFlapWindowMs - 1)],
        'download:carrier-c',
      ],
      [
        'A → B → C → A: left both within the window, nothing left',
        [
          change('carrier-a', 'carrier-b', 5 * DAY),
          change('carrier-b', 'carrier-c', 3 * DAY),
          change('carrier-c', 'carrier-a', 2 * DAY),
        ],
        'none:would_flap',
      ],
      [
        'a rolled-back attempt A → B (meter stayed on A) does not make B a flap',
        [change('carrier-a', 'carrier-b', 2 * DAY)],
        'enable:carrier-b',
      ],
      [
        'a device fallback B → A makes going back to B a flap',
        [change('carrier-b', 'carrier-a', 2 * DAY)],
        'download:carrier-c',
      ],
    ])('%s', (_name, history, expected) => {
      expect(outcome(run(input({ history })))).toBe(expected);
    });

    it('with only the flapping carrier left, refuses with would_flap', () => {
      expect(
        outcome(
          run(
            input({
              regionCarriers: ['carrier-a', 'carrier-b'],
              history: [change('carrier-b', 'carrier-a', DAY)],
            }),
          ),
        ),
      ).toBe('none:would_flap');
    });

    it('an operator may send the meter back (the campaign gates watch the outcome)', () => {
      expect(
        outcome(
          run(
            input({
              cause: { kind: 'operator', targetCarrierId: 'carrier-b', campaignId: 'cmp-1' },
              history: [change('carrier-b', 'carrier-a', HOUR)],
            }),
          ),
        ),
      ).toBe('enable:carrier-b');
    });
  });

  describe('observed coverage', () => {
    const cov = (b: {
      cell?: CarrierCoverageStats;
      region?: CarrierCoverageStats;
    }): ChooseTargetInput['coverage'] => ({
      region: { 'carrier-c': GOOD_REGION, ...(b.region ? { 'carrier-b': b.region } : {}) },
      cell: { 'carrier-c': GOOD_CELL, ...(b.cell ? { 'carrier-b': b.cell } : {}) },
    });
    it.each<[string, { cell?: CarrierCoverageStats; region?: CarrierCoverageStats }, string]>([
      [
        'B poor in the meter’s cell: C',
        { cell: { samples: 10, lost: 3, degraded: 0, medianRsrpDbm: -100 }, region: GOOD_REGION },
        'download:carrier-c',
      ],
      [
        'B’s cell exactly at the unhealthy share: still good',
        { cell: { samples: 10, lost: 1, degraded: 1, medianRsrpDbm: -100 }, region: GOOD_REGION },
        'enable:carrier-b',
      ],
      [
        'B’s cell median RSRP below the minimum: poor',
        { cell: { samples: 10, lost: 0, degraded: 0, medianRsrpDbm: -121 } },
        'download:carrier-c',
      ],
      [
        'B’s cell good though its region is poor: the cell says more',
        { cell: GOOD_CELL, region: { samples: 50, lost: 20, degraded: 0, medianRsrpDbm: -100 } },
        'enable:carrier-b',
      ],
      [
        'B’s cell unknown, its region poor',
        {
          cell: { samples: 4, lost: 0, degraded: 0, medianRsrpDbm: -90 },
          region: { samples: 50, lost: 20, degraded: 0, medianRsrpDbm: -100 },
        },
        'download:carrier-c',
      ],
      [
        'B unknown everywhere (too few samples), C good: the known-good one wins',
        {
          cell: { samples: 4, lost: 0, degraded: 0, medianRsrpDbm: -90 },
          region: { samples: 19, lost: 0, degraded: 0, medianRsrpDbm: -90 },
        },
        'download:carrier-c',
      ],
      [
        'B with exactly the minimum samples counts as known-good',
        { region: { samples: 20, lost: 0, degraded: 0, medianRsrpDbm: -90 } },
        'enable:carrier-b',
      ],
      ['B never observed, C good', {}, 'download:carrier-c'],
    ])('%s', (_name, b, expected) => {
      expect(outcome(run(input({ coverage: cov(b) })))).toBe(expected);
    });

    it('every candidate poor: coverage_poor', () => {
      const poor = { samples: 50, lost: 25, degraded: 0, medianRsrpDbm: -100 };
      expect(
        outcome(
          run(input({ coverage: { region: { 'carrier-b': poor, 'carrier-c': poor }, cell: {} } })),
        ),
      ).toBe('none:coverage_poor');
    });

    it('unknown is still eligible when nothing better is known', () => {
      expect(outcome(run(input({ coverage: { region: {}, cell: {} } })))).toBe('enable:carrier-b');
    });

    it('an operator’s target is taken even where its coverage looks poor (and the facts say so)', () => {
      const poor = { samples: 50, lost: 25, degraded: 0, medianRsrpDbm: -100 };
      const d = run(
        input({
          cause: { kind: 'operator', targetCarrierId: 'carrier-b' },
          coverage: { region: { 'carrier-b': poor }, cell: {} },
        }),
      );
      expect(outcome(d)).toBe('enable:carrier-b');
      expect(d.facts.candidates[0]?.coverage).toBe('poor');
    });
  });

  describe('battery', () => {
    // carrier-b (on the eUICC) unobserved, carrier-c (a download) known-good: only the battery
    // rules keep the meter from downloading carrier-c.
    const bUnknown = {
      coverage: { region: { 'carrier-c': GOOD_REGION }, cell: { 'carrier-c': GOOD_CELL } },
    };
    const used = (
      downloads: number,
      enables: number,
      [from, step] = [10, 1],
    ): PolicyHistoryEntry[] => [
      ...Array.from({ length: downloads }, (_, i) =>
        change('carrier-x', 'carrier-a', (from + i * step) * DAY, ['download', 'enable']),
      ),
      ...Array.from({ length: enables }, (_, i) =>
        change('carrier-x', 'carrier-a', (from + 100 + i * step) * DAY, ['enable']),
      ),
    ];
    it.each<[string, Partial<ChooseTargetInput>, string]>([
      ['mains: the known-good carrier, downloaded', { ...bUnknown }, 'download:carrier-c'],
      [
        'battery well charged: download allowed',
        { ...bUnknown, power: battery(80) },
        'download:carrier-c',
      ],
      [
        'exactly at the download threshold: allowed',
        { ...bUnknown, power: battery(30) },
        'download:carrier-c',
      ],
      [
        'just under the download threshold: the profile on the eUICC instead',
        { ...bUnknown, power: battery(29.9) },
        'enable:carrier-b',
      ],
      [
        'under the threshold with nothing on the eUICC',
        { ...bUnknown, profiles: [A], power: battery(20) },
        'none:battery_low',
      ],
      [
        'exactly at the enable threshold: enable allowed',
        { ...bUnknown, power: battery(10) },
        'enable:carrier-b',
      ],
      [
        'under the enable threshold: nothing (the IPA would answer catBusy)',
        { ...bUnknown, power: battery(9.9) },
        'none:battery_low',
      ],
      [
        'battery level never reported: no download, enable allowed',
        { ...bUnknown, power: battery(null) },
        'enable:carrier-b',
      ],
      [
        'battery level never reported, download only',
        { ...bUnknown, profiles: [A], power: battery(null) },
        'none:battery_unknown',
      ],
      [
        'budget: 11 units used, an enable (1) brings it exactly to 12',
        { ...bUnknown, power: battery(80), history: used(1, 5) },
        'enable:carrier-b',
      ],
      [
        'budget: 11 units used, a download (6) would exceed it',
        { ...bUnknown, profiles: [A], power: battery(80), history: used(1, 5) },
        'none:battery_budget_exhausted',
      ],
      [
        'budget: 12 used, even an enable is refused',
        { ...bUnknown, power: battery(80), history: used(2, 0) },
        'none:battery_budget_exhausted',
      ],
      [
        'budget: 6 used, a download (6) fits exactly',
        { ...bUnknown, power: battery(80), history: used(1, 0) },
        'download:carrier-c',
      ],
      [
        'budget: changes a year old or more do not count',
        { ...bUnknown, power: battery(80), history: used(3, 0, [365, 1]) },
        'download:carrier-c',
      ],
      [
        'budget: just under a year old still counts',
        {
          ...bUnknown,
          power: battery(80),
          history: [
            change('carrier-x', 'carrier-a', 365 * DAY - 1, ['download', 'enable']),
            change('carrier-x', 'carrier-a', 20 * DAY, ['enable']),
          ],
        },
        'enable:carrier-b',
      ],
      [
        'budget: swaps the meter never saw cost nothing',
        {
          ...bUnknown,
          power: battery(80),
          history: Array.from({ length: 20 }, (_, i) =>
            change('carrier-x', 'carrier-a', (10 + i) * DAY, []),
          ),
        },
        'download:carrier-c',
      ],
      [
        'budget: old rows without energyOps count as one enable each',
        {
          ...bUnknown,
          power: battery(80),
          history: Array.from({ length: 7 }, (_, i) =>
            change('carrier-x', 'carrier-a', (10 + i) * DAY),
          ),
        },
        'enable:carrier-b',
      ],
      [
        'mains meters are exempt from the budget',
        { ...bUnknown, history: used(30, 0) },
        'download:carrier-c',
      ],
      [
        'an operator’s target is refused too when the battery is low',
        { cause: { kind: 'operator', targetCarrierId: 'carrier-c' }, power: battery(20) },
        'none:battery_low',
      ],
      [
        'an operator’s target is refused too when the budget is spent',
        {
          cause: { kind: 'operator', targetCarrierId: 'carrier-b' },
          power: battery(80),
          history: used(2, 0),
        },
        'none:battery_budget_exhausted',
      ],
    ])('%s', (_name, over, expected) => {
      expect(outcome(run(input(over)))).toBe(expected);
    });

    it('records the energy each candidate would cost and the budget used', () => {
      const d = run(
        input({
          power: battery(80),
          history: [change('carrier-x', 'carrier-a', 100 * DAY, ['download', 'enable'])],
        }),
      );
      expect(d.facts.batteryUnitsUsedLastYear).toBe(6);
      expect(d.facts.candidates.map((c) => [c.carrierId, c.energyUnits])).toEqual([
        ['carrier-b', 1],
        ['carrier-c', 6],
      ]);
    });
  });

  describe('ranking', () => {
    const priced = (b: number, c: number): Partial<ChooseTargetInput> => ({
      tariffs: {
        'carrier-a': TARIFF,
        'carrier-b': { ...TARIFF, monthlyFeeMinor: b, perMbMinor: 0, swapFeeMinor: 0 },
        'carrier-c': {
          ...TARIFF,
          monthlyFeeMinor: c,
          perMbMinor: 0,
          swapFeeMinor: 0,
          downloadFeeMinor: 0,
        },
      },
    });
    const cFirst = { regionCarriers: ['carrier-a', 'carrier-c', 'carrier-b'] };
    it.each<[string, Partial<ChooseTargetInput>, string]>([
      [
        'contract preference among equals on the eUICC',
        { profiles: [A, B, C] },
        'enable:carrier-b',
      ],
      [
        'contract preference among equals on the eUICC, other order',
        { profiles: [A, B, C], ...cFirst },
        'enable:carrier-c',
      ],
      [
        'the profile on the eUICC over a more preferred download of comparable cost',
        { ...cFirst, ...priced(100, 100) },
        'enable:carrier-b',
      ],
      // 12 × 125 = 1500 vs 12 × 100 = 1200: exactly 25 % dearer is still comparable.
      [
        'on the eUICC and exactly 25 % dearer: still comparable',
        { ...cFirst, ...priced(125, 100) },
        'enable:carrier-b',
      ],
      [
        'on the eUICC but more than 25 % dearer: the cheaper download',
        { ...cFirst, ...priced(126, 100) },
        'download:carrier-c',
      ],
      [
        'cost beyond the tolerance beats contract preference',
        { profiles: [A, B, C], ...priced(200, 100) },
        'enable:carrier-c',
      ],
      // Without its 10,000 download fee carrier-c (960) would beat carrier-b (1560) on cost.
      [
        'the download fee counts in the cost',
        {
          ...cFirst,
          profiles: [A, B],
          tariffs: {
            'carrier-a': TARIFF,
            'carrier-b': { ...TARIFF, monthlyFeeMinor: 130, perMbMinor: 0, swapFeeMinor: 0 },
            'carrier-c': {
              ...TARIFF,
              monthlyFeeMinor: 80,
              perMbMinor: 0,
              swapFeeMinor: 0,
              downloadFeeMinor: 10_000,
            },
          },
        },
        'enable:carrier-b',
      ],
      [
        'data use counts in the cost',
        {
          profiles: [A, B, C],
          typicalMonthlyBytes: 100_000_000,
          tariffs: {
            'carrier-a': TARIFF,
            'carrier-b': { ...TARIFF, perMbMinor: 50 },
            'carrier-c': { ...TARIFF, perMbMinor: 10 },
          },
        },
        'enable:carrier-c',
      ],
    ])('%s', (_name, over, expected) => {
      expect(outcome(run(input(over)))).toBe(expected);
    });

    it('coverage comes before cost: a good, dearer carrier over an unknown, cheaper one', () => {
      expect(
        outcome(
          run(
            input({
              profiles: [A, B, C],
              ...priced(500, 100),
              coverage: { region: { 'carrier-b': GOOD_REGION }, cell: {} },
            }),
          ),
        ),
      ).toBe('enable:carrier-b');
    });

    it('the ranking in the facts starts with the chosen carrier', () => {
      const d = run(input({ ...cFirst, ...priced(126, 100) }));
      expect(d.facts.ranking).toEqual(['carrier-c', 'carrier-b']);
    });
  });

  // A record, so that a new refusal code without an example here fails to compile.
  const EXAMPLES: Record<RefusalReason, Partial<ChooseTargetInput>> = {
    swap_in_progress: { hasActiveSwap: true },
    no_enabled_profile: { profiles: [B, C] },
    already_on_target: { cause: { kind: 'operator', targetCarrierId: 'carrier-a' } },
    meter_unreachable: { cause: { kind: 'meter.lost' } },
    meter_fault: {
      coverage: {
        region: {},
        cell: { 'carrier-a': { samples: 10, lost: 0, degraded: 1, medianRsrpDbm: -90 } },
      },
    },
    outage_too_young: {
      cause: { kind: 'carrier-outage', outage: { ...oldOutage(), openedAt: NOW } },
    },
    cooldown: { history: [change('carrier-c', 'carrier-a', 0)] },
    no_target_carrier: { regionCarriers: ['carrier-a'] },
    no_eligible_target: { carriersInOutage: new Set(['carrier-b']), tariffs: {} },
    not_under_contract: { cause: { kind: 'operator', targetCarrierId: 'carrier-z' } },
    carrier_in_outage: { carriersInOutage: new Set(['carrier-b', 'carrier-c']) },
    would_flap: {
      regionCarriers: ['carrier-a', 'carrier-b'],
      history: [change('carrier-b', 'carrier-a', DAY)],
    },
    coverage_poor: {
      regionCarriers: ['carrier-a', 'carrier-b'],
      coverage: {
        region: {},
        cell: { 'carrier-b': { samples: 5, lost: 5, degraded: 0, medianRsrpDbm: null } },
      },
    },
    unknown_carrier: { regionCarriers: ['carrier-a', 'carrier-c'], tariffs: {} },
    battery_low: { power: battery(5) },
    battery_unknown: { profiles: [A], power: battery(null) },
    battery_budget_exhausted: {
      power: battery(90),
      history: Array.from({ length: 12 }, (_, i) =>
        change('carrier-x', 'carrier-a', (i + 1) * DAY),
      ),
    },
  };
  it.each(REFUSAL_REASONS.map((reason) => [reason]))('refuses with %s', (reason) => {
    expect(outcome(run(input(EXAMPLES[reason])))).toBe(`none:${reason}`);
  });

  describe('properties over generated inputs', () => {
    const CARRIERS = ['carrier-a', 'carrier-b', 'carrier-c', 'carrier-d', 'carrier-e'];
    const genStats = (r: Seeded): CarrierCoverageStats | undefined => {
      if (r.chance(0.2)) return undefined;
      const samples = r.int(0, 60);
      const lost = r.int(0, samples);
      return {
        samples,
        lost,
        degraded: r.int(0, samples - lost),
        medianRsrpDbm: r.chance(0.2) ? null : r.int(-135, -80),
      };
    };
    const genInput = (r: Seeded): ChooseTargetInput => {
      const onEuicc = CARRIERS.filter(() => r.chance(0.5));
      const current = r.pick(CARRIERS);
      const profiles: InventoryProfile[] = [...new Set([current, ...onEuicc])].map(
        (carrierId, i) => ({
          iccid: `89440000000000000${i}${r.int(0, 9)}`,
          carrierId,
          state: carrierId === current && !r.chance(0.03) ? 'enabled' : 'disabled',
        }),
      );
      const regionCarriers = CARRIERS.filter(() => r.chance(0.7));
      if (r.chance(0.8) && !regionCarriers.includes(current)) regionCarriers.unshift(current);
      const outage: OutageFacts | undefined = r.chance(0.4)
        ? {
            outageId: 'o',
            carrierId: current,
            openedAt: NOW - r.int(0, 2 * CONFIG.outageMinDurationMs),
          }
        : undefined;
      const kinds = ['meter.degraded', 'meter.lost', 'carrier-outage', 'operator'] as const;
      const kind = r.pick(kinds);
      const cause: ChooseTargetInput['cause'] =
        kind === 'operator'
          ? { kind, targetCarrierId: r.pick(CARRIERS) }
          : kind === 'carrier-outage'
            ? {
                kind,
                outage: outage ?? { outageId: 'o', carrierId: current, openedAt: NOW - HOUR },
              }
            : outage
              ? { kind, outage }
              : { kind };
      const stats = (): Record<string, CarrierCoverageStats> =>
        Object.fromEntries(
          CARRIERS.map((c) => [c, genStats(r)] as const).filter(
            (e): e is readonly [string, CarrierCoverageStats] => e[1] !== undefined,
          ),
        );
      return {
        now: NOW,
        cause,
        profiles,
        regionCarriers,
        carriersInOutage: new Set(CARRIERS.filter(() => r.chance(0.2))),
        tariffs: Object.fromEntries(
          CARRIERS.filter(() => r.chance(0.9)).map((c) => [
            c,
            {
              monthlyFeeMinor: r.int(0, 200),
              perMbMinor: r.int(0, 50),
              downloadFeeMinor: r.int(0, 300),
              swapFeeMinor: r.int(0, 50),
            },
          ]),
        ),
        coverage: { region: stats(), cell: stats() },
        power: r.chance(0.5) ? { source: 'mains' } : battery(r.chance(0.1) ? null : r.int(0, 100)),
        typicalMonthlyBytes: r.int(0, 50_000_000),
        hasActiveSwap: r.chance(0.05),
        history: Array.from({ length: r.int(0, 8) }, () =>
          change(
            r.pick(CARRIERS),
            r.pick(CARRIERS),
            r.int(0, 400) * (r.chance(0.5) ? DAY : HOUR),
            r.chance(0.25) ? undefined : r.pick([[], ['enable'], ['download', 'enable']] as const),
          ),
        ),
      };
    };

    const SEEDS = Array.from({ length: 3000 }, (_, i) => i + 1);
    /** Runs the check over every seed; returns the failures (seed and what went wrong). */
    const forAll = (
      check: (i: ChooseTargetInput, d: ChooseTargetDecision) => string | null,
      seeds = SEEDS,
    ): string[] =>
      seeds.flatMap((seed) => {
        const i = genInput(seeded(seed));
        const problem = check(i, chooseTarget(i));
        return problem ? [`seed ${seed}: ${problem}`] : [];
      });
    const order: Record<string, number> = { good: 0, unknown: 1, poor: 2 };

    it('generates every kind of outcome (the checks below are not vacuous)', () => {
      const outcomes = new Set(
        SEEDS.map((seed) => {
          const d = chooseTarget(genInput(seeded(seed)));
          return d.action === 'none' ? d.reason : d.needsDownload ? 'download' : 'enable';
        }),
      );
      expect(outcomes).toContain('download');
      expect(outcomes).toContain('enable');
      expect(outcomes.size).toBeGreaterThan(12);
    });

    it('a chosen target is never the current carrier, never in outage, always under contract', () => {
      expect(
        forAll((i, d) => {
          if (d.action !== 'swap') return null;
          const current = i.profiles.find((p) => p.state === 'enabled');
          if (d.toCarrierId === current?.carrierId) return 'the current carrier';
          if (i.carriersInOutage.has(d.toCarrierId)) return 'a carrier in outage';
          if (!i.regionCarriers.includes(d.toCarrierId)) return 'not under contract';
          if (d.fromIccid !== current?.iccid) return 'fromIccid is not the enabled profile';
          return null;
        }),
      ).toEqual([]);
    });

    it('needsDownload exactly when the target has no profile on the eUICC; toIccid is that profile', () => {
      expect(
        forAll((i, d) => {
          if (d.action !== 'swap') return null;
          const profile = i.profiles.find(
            (p) => p.carrierId === d.toCarrierId && p.state === 'disabled',
          );
          if (d.needsDownload !== (profile === undefined))
            return `needsDownload ${d.needsDownload}`;
          if (d.toIccid !== profile?.iccid) return `toIccid ${d.toIccid}`;
          return null;
        }),
      ).toEqual([]);
    });

    it('battery meters: never a download below its threshold or unknown, never anything over the budget', () => {
      expect(
        forAll((i, d) => {
          if (d.action !== 'swap' || i.power.source !== 'battery') return null;
          const pct = i.power.batteryPct;
          if (d.needsDownload && (pct === null || pct < CONFIG.minBatteryPctForDownload))
            return `download at ${pct}`;
          if (pct !== null && pct < CONFIG.minBatteryPctForEnable) return `enable at ${pct}`;
          const cost =
            CONFIG.enableEnergyUnits + (d.needsDownload ? CONFIG.downloadEnergyUnits : 0);
          if (d.facts.batteryUnitsUsedLastYear + cost > CONFIG.batteryBudgetUnitsPerYear)
            return 'over budget';
          return null;
        }),
      ).toEqual([]);
    });

    it('automatic swaps respect the cooldown, anti-flapping, young outages, silence and observed coverage', () => {
      expect(
        forAll((i, d) => {
          if (d.action !== 'swap' || i.cause.kind === 'operator') return null;
          const target = d.toCarrierId;
          if (i.history.some((h) => NOW - h.at < CONFIG.cooldownMs)) return 'within the cooldown';
          if (
            i.history.some(
              (h) => h.fromCarrierId === target && NOW - h.at < CONFIG.antiFlapWindowMs,
            )
          )
            return 'flaps';
          if (i.cause.outage && NOW - i.cause.outage.openedAt < CONFIG.outageMinDurationMs)
            return 'young outage';
          if (i.cause.kind === 'meter.lost' && !i.cause.outage)
            return 'silent meter outside an outage';
          if (d.facts.candidates.find((c) => c.carrierId === target)?.coverage === 'poor')
            return 'poor coverage';
          return null;
        }),
      ).toEqual([]);
    });

    it('region peers only ever turn a degraded meter’s decision into meter_fault, and only when its cell has no peers on record and its region peers are fine', () => {
      const withRegionPeers = { ...CONFIG, meterFaultFromRegionPeers: true };
      const problems = SEEDS.flatMap((seed) => {
        const i = genInput(seeded(seed));
        const byDefault = chooseTarget(i);
        const withSetting = chooseTarget(i, withRegionPeers);
        if (outcome(withSetting) === outcome(byDefault)) return [];
        const peers = withSetting.facts.currentCarrierPeers;
        const ok =
          outcome(withSetting) === 'none:meter_fault' &&
          i.cause.kind === 'meter.degraded' &&
          !i.cause.outage &&
          peers?.cell.samples === 0 &&
          peers.region.class === 'good';
        return ok ? [] : [`seed ${seed}: ${outcome(byDefault)} became ${outcome(withSetting)}`];
      });
      expect(problems).toEqual([]);
      // ...and it does happen over these inputs.
      expect(
        SEEDS.some((seed) => {
          const i = genInput(seeded(seed));
          return (
            outcome(chooseTarget(i, withRegionPeers)) === 'none:meter_fault' &&
            outcome(chooseTarget(i)) !== 'none:meter_fault'
          );
        }),
      ).toBe(true);
    });

    it('the chosen target heads the ranking, and no eligible candidate has better coverage', () => {
      expect(
        forAll((_i, d) => {
          if (d.action !== 'swap') return null;
          if (d.facts.ranking[0] !== d.toCarrierId) return 'not first in the ranking';
          const chosen = d.facts.candidates.find((c) => c.carrierId === d.toCarrierId);
          const better = d.facts.candidates.find(
            (c) =>
              c.excluded === null &&
              (order[c.coverage] ?? 9) < (order[chosen?.coverage ?? 'poor'] ?? 9),
          );
          return better ? `${better.carrierId} has better coverage` : null;
        }),
      ).toEqual([]);
    });

    it('every refusal is a known code; no_eligible_target only when the candidates’ reasons differ', () => {
      expect(
        forAll((_i, d) => {
          if (d.action !== 'none') return null;
          if (!REFUSAL_REASONS.includes(d.reason)) return `unknown code ${d.reason}`;
          if (
            d.reason === 'no_eligible_target' &&
            new Set(d.facts.candidates.map((c) => c.excluded)).size < 2
          )
            return 'no_eligible_target with one reason';
          return null;
        }),
      ).toEqual([]);
    });

    it('is deterministic and does not depend on the order of the history', () => {
      expect(
        forAll(
          (i, d) => {
            const reversed = chooseTarget({ ...i, history: [...i.history].reverse() });
            if (JSON.stringify(chooseTarget(i)) !== JSON.stringify(d)) return 'not deterministic';
            if (outcome(reversed) !== outcome(d)) return 'depends on the order of the history';
            return null;
          },
          SEEDS.slice(0, 1000),
        ),
      ).toEqual([]);
    });

    it('is pure: the input is left as it was', () => {
      for (const seed of SEEDS.slice(0, 200)) {
        const i = genInput(seeded(seed));
        const before = JSON.stringify({ ...i, carriersInOutage: [...i.carriersInOutage] });
        chooseTarget(i);
        expect(JSON.stringify({ ...i, carriersInOutage: [...i.carriersInOutage] })).toBe(before);
      }
    });
  });
});
