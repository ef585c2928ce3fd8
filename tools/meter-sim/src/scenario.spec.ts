import { ServiceModel } from './coverage';
import { isEidValid, isLuhnValid, eidWithCheckDigits, makeIccid } from '@meterlink/contracts';
import { ScenarioError, parseScenario, toRealMs, toRealSeconds } from './scenario';
import { ManualScheduler } from './scheduler';

const carrier = (carrierId: string, plmn: string) => ({
  carrierId,
  name: carrierId,
  plmns: [plmn],
  smdpAddress: `smdp.${carrierId}.example`,
  tariff: {
    currency: 'EUR',
    monthlyFeeMinor: 1,
    perMbMinor: 1,
    downloadFeeMinor: 1,
    swapFeeMinor: 1,
  },
});
const base = {
  name: 'spec',
  seed: 1,
  speedup: 60,
  durationS: 3600,
  catalogue: {
    carriers: [carrier('carrier-a', '23415'), carrier('carrier-b', '23420')],
    regions: [],
  },
  fleet: [
    {
      region: 'north',
      kind: 'electricity',
      carrierId: 'carrier-a',
      count: 1,
      reportIntervalS: 900,
    },
  ],
};

describe('scenario', () => {
  it('fills defaults for optional settings', () => {
    const s = parseScenario(base);
    expect(s.attachS).toEqual([30, 300]);
    expect(s.outages).toEqual([]);
    expect(s.fleet[0]).toMatchObject({
      otherProfiles: [],
      rollbackWindowS: 600,
      fallbackDelayS: 3600,
      signedTelemetry: false,
    });
  });

  it('names every problem of an invalid scenario', () => {
    const bad = {
      ...base,
      speedup: 0,
      fleet: [
        {
          ...base.fleet[0],
          carrierId: 'carrier-x',
          otherProfiles: ['carrier-b'],
          fallbackCarrierId: 'carrier-c',
        },
      ],
      outages: [{ carrierId: 'carrier-a', fromS: 10, toS: 5, mode: 'down' }],
    };
    expect(() => parseScenario(bad, 'bad.json')).toThrow(ScenarioError);
    try {
      parseScenario(bad, 'bad.json');
    } catch (error) {
      const problems = (error as ScenarioError).problems.join('\n');
      expect(problems).toContain('speedup');
      expect(problems).toContain('fleet.0.carrierId: carrier carrier-x is not in the catalogue');
      expect(problems).toContain('fleet.0.fallbackCarrierId');
      expect(problems).toContain('outage toS must be after fromS');
    }
  });

  it('converts field seconds to the real seconds of the compressed clock', () => {
    expect(toRealSeconds(900, 60)).toBe(15);
    expect(toRealSeconds(20, 60)).toBe(1);
    expect(toRealSeconds(89, 60)).toBe(1);
    expect(toRealSeconds(90, 60)).toBe(2);
    expect(toRealMs(30, 60)).toBe(500);
  });
});

describe('ServiceModel', () => {
  const model = new ServiceModel([
    { carrierId: 'carrier-a', region: 'north', fromS: 900, toS: 7200, mode: 'degraded' },
    { carrierId: 'carrier-a', region: 'north', fromS: 1000, toS: 2000, mode: 'down' },
    { carrierId: 'carrier-b', fromS: 0, toS: 100, mode: 'down' },
  ]);

  it('applies outages by carrier, region and time; down wins over degraded', () => {
    expect(model.levelAt('carrier-a', 'north', 899)).toBe('ok');
    expect(model.levelAt('carrier-a', 'north', 900)).toBe('degraded');
    expect(model.levelAt('carrier-a', 'north', 1500)).toBe('down');
    expect(model.levelAt('carrier-a', 'north', 7200)).toBe('ok');
    expect(model.levelAt('carrier-a', 'south', 1500)).toBe('ok');
    expect(model.levelAt('carrier-b', 'anywhere', 50)).toBe('down');
    expect(model.levelAt('carrier-z', 'north', 50)).toBe('ok');
  });

  it('lists outage edges in time order', () => {
    expect(model.edges().map((e) => [e.fieldS, e.edge])).toEqual([
      [0, 'start'],
      [100, 'end'],
      [900, 'start'],
      [1000, 'start'],
      [2000, 'end'],
      [7200, 'end'],
    ]);
  });
});

describe('intermittent outages', () => {
  const model = new ServiceModel([
    {
      carrierId: 'carrier-a',
      region: 'north',
      fromS: 100,
      toS: 130,
      mode: 'intermittent',
      periodS: 10,
      upS: 2,
    },
  ]);

  it('gives service during the first upS of every period and none otherwise', () => {
    expect(model.levelAt('carrier-a', 'north', 99)).toBe('ok');
    expect(model.levelAt('carrier-a', 'north', 100)).toBe('ok');
    expect(model.levelAt('carrier-a', 'north', 101.9)).toBe('ok');
    expect(model.levelAt('carrier-a', 'north', 102)).toBe('down');
    expect(model.levelAt('carrier-a', 'north', 109.9)).toBe('down');
    expect(model.levelAt('carrier-a', 'north', 110)).toBe('ok');
    expect(model.levelAt('carrier-a', 'north', 125)).toBe('down');
    expect(model.levelAt('carrier-a', 'north', 130)).toBe('ok');
    expect(model.levelAt('carrier-a', 'south', 105)).toBe('ok');
  });

  it('has an edge at every flip', () => {
    expect(model.edges().map((e) => [e.fieldS, e.edge])).toEqual([
      [100, 'start'],
      [102, 'flip'],
      [110, 'flip'],
      [112, 'flip'],
      [120, 'flip'],
      [122, 'flip'],
      [130, 'end'],
    ]);
  });

  it('needs periodS and upS', () => {
    expect(() =>
      parseScenario({
        ...base,
        outages: [{ carrierId: 'carrier-a', fromS: 0, toS: 10, mode: 'intermittent' }],
      }),
    ).toThrow(/periodS and upS/);
  });
});

describe('identifiers', () => {
  it('computes EID and ICCID check digits', () => {
    expect(isEidValid(eidWithCheckDigits('890490320000000000000000000001'))).toBe(true);
    expect(isEidValid('89049032000000000000000000000100')).toBe(false);
    const iccid = makeIccid(10, 123);
    expect(iccid).toHaveLength(19);
    expect(isLuhnValid(iccid)).toBe(true);
    expect(isLuhnValid('79927398713')).toBe(true);
    expect(isLuhnValid('79927398710')).toBe(false);
  });
});

describe('ManualScheduler', () => {
  it('fires due timers in time order, including ones scheduled while advancing', () => {
    const s = new ManualScheduler(0);
    const fired: string[] = [];
    s.setTimer(20, () => fired.push(`b@${s.now()}`));
    s.setTimer(10, () => {
      fired.push(`a@${s.now()}`);
      s.setTimer(5, () => fired.push(`c@${s.now()}`));
    });
    s.setTimer(30, () => fired.push('late')).cancel();
    s.advance(25);
    expect(fired).toEqual(['a@10', 'c@15', 'b@20']);
    expect(s.now()).toBe(25);
    expect(s.pendingTimers()).toBe(0);
  });
});
