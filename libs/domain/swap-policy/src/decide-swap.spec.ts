import { decideSwap, type SwapPolicyInput } from './decide-swap';

const A = { iccid: '8944150000000000017', carrierId: 'carrier-a', state: 'enabled' as const };
const B = { iccid: '8944200000000000022', carrierId: 'carrier-b', state: 'disabled' as const };
const C = { iccid: '8944300000000000033', carrierId: 'carrier-c', state: 'disabled' as const };
const HOUR = 3_600_000;

const input = (over: Partial<SwapPolicyInput> = {}): SwapPolicyInput => ({
  now: 100 * HOUR,
  signal: 'meter.degraded',
  partOfCarrierOutage: false,
  profiles: [A, B, C],
  regionCarriers: ['carrier-a', 'carrier-b', 'carrier-c'],
  carriersInOutage: new Set(),
  hasActiveSwap: false,
  history: [],
  ...over,
});

describe('swap policy', () => {
  it('moves to the most preferred other carrier under contract in the region', () => {
    expect(decideSwap(input())).toEqual({
      action: 'swap',
      fromIccid: A.iccid,
      fromCarrierId: 'carrier-a',
      toIccid: B.iccid,
      toCarrierId: 'carrier-b',
    });
  });

  it('follows the region’s order of preference, not the inventory’s order', () => {
    expect(
      decideSwap(input({ regionCarriers: ['carrier-a', 'carrier-c', 'carrier-b'] })),
    ).toMatchObject({ toCarrierId: 'carrier-c' });
  });

  it('skips carriers in outage', () => {
    expect(decideSwap(input({ carriersInOutage: new Set(['carrier-b']) }))).toMatchObject({
      toCarrierId: 'carrier-c',
    });
  });

  it('never targets a carrier that is not under contract in the region', () => {
    expect(decideSwap(input({ regionCarriers: ['carrier-a'] }))).toEqual({
      action: 'none',
      reason: 'no_target_carrier',
    });
  });

  it('never targets a carrier with no profile on the eUICC', () => {
    expect(decideSwap(input({ profiles: [A] }))).toEqual({
      action: 'none',
      reason: 'no_target_carrier',
    });
  });

  it('does nothing while a swap is in progress', () => {
    expect(decideSwap(input({ hasActiveSwap: true }))).toEqual({
      action: 'none',
      reason: 'swap_in_progress',
    });
  });

  it('respects the cooldown after the last swap', () => {
    expect(
      decideSwap(
        input({
          history: [{ fromCarrierId: 'carrier-c', toCarrierId: 'carrier-a', at: 99 * HOUR }],
        }),
      ),
    ).toEqual({ action: 'none', reason: 'cooldown' });
  });

  it('refuses A → B → A within the anti-flapping window and tries the next carrier', () => {
    const history = [{ fromCarrierId: 'carrier-b', toCarrierId: 'carrier-a', at: 90 * HOUR }];
    expect(decideSwap(input({ history }))).toMatchObject({ toCarrierId: 'carrier-c' });
    expect(decideSwap(input({ history, profiles: [A, B] }))).toEqual({
      action: 'none',
      reason: 'would_flap',
    });
  });

  it('does not swap one silent meter, which cannot be reached and may be broken', () => {
    expect(decideSwap(input({ signal: 'meter.lost' }))).toEqual({
      action: 'none',
      reason: 'meter_unreachable',
    });
  });

  it('queues a swap for a silent meter when its carrier is out in the region', () => {
    expect(decideSwap(input({ signal: 'meter.lost', partOfCarrierOutage: true }))).toMatchObject({
      action: 'swap',
      toCarrierId: 'carrier-b',
    });
  });

  it('has nothing to do for a meter with no enabled profile', () => {
    expect(decideSwap(input({ profiles: [B, C] }))).toEqual({
      action: 'none',
      reason: 'no_enabled_profile',
    });
  });
});
