import type { CoverageEventRecord, MeterConnectivityRecord } from '@meterlink/contracts';
import {
  cellCoverageOf,
  latestCoverageStates,
  latestRadioReports,
  selfStateOf,
} from './meter-radio';

const telemetry = (over: Partial<MeterConnectivityRecord>): MeterConnectivityRecord => ({
  eventId: '00000000-0000-4000-8000-000000000000',
  type: 'meter.connectivity',
  at: '2026-11-25T06:00:00.000Z',
  receivedAt: '2026-11-25T12:00:00.000Z',
  meterId: 'M-1',
  seq: 1,
  kind: 'electricity',
  iccid: '8944000000000000001',
  carrierId: 'carrier-a',
  plmn: '23415',
  rat: 'nbiot',
  cellId: '1A2B3C',
  rsrp: -95,
  rsrq: -10,
  sinr: 5,
  attachFailures: 0,
  bytesUp: 100,
  bytesDown: 20,
  ...over,
});

const event = (over: Partial<CoverageEventRecord>): CoverageEventRecord => ({
  eventId: '00000000-0000-4000-8000-000000000001',
  type: 'meter.degraded',
  at: '2026-11-25T06:00:00.000Z',
  carrierId: 'carrier-a',
  region: 'north',
  meterId: 'M-1',
  ...over,
});

describe('meter radio rows from a batch', () => {
  it('keeps the newest telemetry per meter by its sentAt, whatever the order or offset format', () => {
    const reports = latestRadioReports(
      [
        telemetry({ meterId: 'M-1', at: '2026-11-25T06:15:00.000Z', rsrp: -100, cellId: 'C2' }),
        // Later than the first one, written with an offset and no fraction.
        telemetry({ meterId: 'M-1', at: '2026-11-25T07:20:00+01:00', rsrp: -101, cellId: 'C3' }),
        telemetry({ meterId: 'M-1', at: '2026-11-25T06:00:00.000Z', rsrp: -80 }),
        telemetry({ meterId: 'M-2', carrierId: null, cellId: null, rsrp: null, batteryPct: 40 }),
      ],
      (id) => (id === 'M-1' ? 'north' : undefined),
    );
    expect(reports).toEqual([
      {
        meterId: 'M-1',
        region: 'north',
        carrierId: 'carrier-a',
        cellId: 'C3',
        rsrpDbm: -101,
        batteryPct: null,
        at: new Date('2026-11-25T06:20:00.000Z'),
      },
      {
        meterId: 'M-2',
        region: null,
        carrierId: null,
        cellId: null,
        rsrpDbm: null,
        batteryPct: 40,
        at: new Date('2026-11-25T06:00:00.000Z'),
      },
    ]);
  });

  it('takes the receipt time for a meter whose clock runs ahead of the platform', () => {
    const [report] = latestRadioReports(
      [telemetry({ at: '2027-01-01T00:00:00.000Z', receivedAt: '2026-11-25T06:00:02.000Z' })],
      () => 'north',
    );
    expect(report?.at).toEqual(new Date('2026-11-25T06:00:02.000Z'));
  });

  it('keeps the newest coverage state per meter and ignores carrier events', () => {
    expect(
      latestCoverageStates([
        event({ type: 'meter.lost', at: '2026-11-25T06:30:00.000Z' }),
        event({ type: 'meter.degraded', at: '2026-11-25T06:00:00.000Z' }),
        event({ type: 'meter.restored', meterId: 'M-2', at: '2026-11-25T06:10:00.000Z' }),
        event({ type: 'carrier.outage', meterId: undefined, outageId: 'o-1' }),
      ]),
    ).toEqual([
      {
        meterId: 'M-1',
        region: 'north',
        carrierId: 'carrier-a',
        state: 'lost',
        at: new Date('2026-11-25T06:30:00.000Z'),
      },
      {
        meterId: 'M-2',
        region: 'north',
        carrierId: 'carrier-a',
        state: 'healthy',
        at: new Date('2026-11-25T06:10:00.000Z'),
      },
    ]);
  });
});

describe('the deciding meter among its cell peers', () => {
  it('counts the meter with the state its cause reports, else with the stored one', () => {
    expect(selfStateOf({ kind: 'meter.degraded' })).toBe('degraded');
    expect(selfStateOf({ kind: 'meter.lost' })).toBe('lost');
    expect(selfStateOf({ kind: 'operator', targetCarrierId: 'carrier-b' })).toBeNull();
    expect(
      selfStateOf({
        kind: 'carrier-outage',
        outage: { outageId: 'o-1', carrierId: 'carrier-a', openedAt: 0 },
      }),
    ).toBeNull();
  });

  it('maps the cell aggregate onto the policy’s per-carrier stats', () => {
    expect(
      cellCoverageOf([
        { carrier_id: 'carrier-a', samples: 6, lost: 1, degraded: 2, median_rsrp_dbm: -97.5 },
        { carrier_id: 'carrier-b', samples: 1, lost: 1, degraded: 0, median_rsrp_dbm: null },
      ]),
    ).toEqual({
      'carrier-a': { samples: 6, lost: 1, degraded: 2, medianRsrpDbm: -97.5 },
      'carrier-b': { samples: 1, lost: 1, degraded: 0, medianRsrpDbm: null },
    });
    expect(cellCoverageOf([])).toEqual({});
  });
});
