import { readWatchedMeter } from './meter-directory';

const record = {
  type: 'fleet.meter',
  meterId: 'EM-01-0000000042',
  kind: 'gas',
  region: 'north',
  reportIntervalS: 86_400,
  status: 'active',
  revision: 3,
  devicePublicKeyJwk: { kty: 'EC', crv: 'P-256', x: 'x', y: 'y' },
  profiles: [],
};

describe('reading fleet.meters.v1 for coverage', () => {
  it('keeps the five fields coverage uses', () => {
    expect(readWatchedMeter(JSON.stringify(record))).toEqual({
      meterId: 'EM-01-0000000042',
      kind: 'gas',
      region: 'north',
      reportIntervalS: 86_400,
      active: true,
      revision: 3,
    });
  });
  it('treats a decommissioned meter as not active', () => {
    expect(readWatchedMeter(JSON.stringify({ ...record, status: 'decommissioned' }))?.active).toBe(
      false,
    );
  });
  it('refuses what it cannot read', () => {
    expect(readWatchedMeter('not json')).toBeNull();
    expect(readWatchedMeter('null')).toBeNull();
    expect(readWatchedMeter(JSON.stringify({ ...record, kind: 'heat' }))).toBeNull();
    expect(readWatchedMeter(JSON.stringify({ ...record, reportIntervalS: 0 }))).toBeNull();
    expect(readWatchedMeter(JSON.stringify({ ...record, revision: '3' }))).toBeNull();
  });
});
