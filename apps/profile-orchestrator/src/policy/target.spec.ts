import { chooseSwapTarget, targetOnCarrier } from './target';

const A = { iccid: '8944150000000000017', carrierId: 'carrier-a', state: 'enabled' as const };
const B = { iccid: '8944200000000000022', carrierId: 'carrier-b', state: 'disabled' as const };
const config = { cooldownMs: 3_600_000, antiFlapWindowMs: 86_400_000 };
const input = {
  now: 1e12,
  signal: 'meter.degraded' as const,
  partOfCarrierOutage: false,
  profiles: [A, B],
  regionCarriers: ['carrier-a', 'carrier-b', 'carrier-c'],
  carriersInOutage: new Set<string>(),
  hasActiveSwap: false,
  history: [],
};

describe('target choice with downloads', () => {
  it('enables a profile already on the eUICC when there is one', () => {
    expect(chooseSwapTarget(input, config)).toMatchObject({
      action: 'swap',
      toIccid: B.iccid,
      needsDownload: false,
    });
  });

  it('downloads the preferred carrier when no allowed carrier has a profile', () => {
    expect(
      chooseSwapTarget({ ...input, carriersInOutage: new Set(['carrier-b']) }, config),
    ).toEqual({
      action: 'swap',
      fromIccid: A.iccid,
      fromCarrierId: 'carrier-a',
      toCarrierId: 'carrier-c',
      needsDownload: true,
    });
  });

  it('never downloads a carrier in outage, nor one that would flap back', () => {
    expect(
      chooseSwapTarget(
        { ...input, profiles: [A], carriersInOutage: new Set(['carrier-b', 'carrier-c']) },
        config,
      ),
    ).toEqual({ action: 'none', reason: 'no_target_carrier' });
    expect(
      chooseSwapTarget(
        {
          ...input,
          profiles: [A],
          regionCarriers: ['carrier-a', 'carrier-c'],
          history: [{ fromCarrierId: 'carrier-c', toCarrierId: 'carrier-a', at: 1e12 - 7_200_000 }],
        },
        config,
      ),
    ).toEqual({ action: 'none', reason: 'no_target_carrier' });
  });

  it('keeps the other refusals of the policy', () => {
    expect(chooseSwapTarget({ ...input, hasActiveSwap: true }, config)).toEqual({
      action: 'none',
      reason: 'swap_in_progress',
    });
  });

  it('moves to a named carrier by enabling or downloading', () => {
    expect(targetOnCarrier([A, B], 'carrier-b')).toMatchObject({ toIccid: B.iccid });
    expect(targetOnCarrier([A, B], 'carrier-c')).toEqual({
      action: 'swap',
      fromIccid: A.iccid,
      fromCarrierId: 'carrier-a',
      needsDownload: true,
    });
    expect(targetOnCarrier([A, B], 'carrier-a')).toEqual({
      action: 'none',
      reason: 'already_on_target',
    });
  });
});
