import type { ManifestProfile } from '@meterlink/contracts';
import { applyInventoryChange, notifiedChange } from './inventory-change';

const A = '8944150000000000017';
const B = '8944200000000000022';
const C = '8944300000000000033';
const X = '8944990000000000099';
const inventory: ManifestProfile[] = [
  { iccid: A, carrierId: 'carrier-a', state: 'enabled', fallback: false },
  { iccid: B, carrierId: 'carrier-b', state: 'disabled', fallback: true },
  { iccid: C, carrierId: 'carrier-c', state: 'disabled', fallback: false },
];
const states = (profiles: ManifestProfile[]): Record<string, string> =>
  Object.fromEntries(profiles.map((p) => [p.iccid, `${p.state}${p.fallback ? '+fallback' : ''}`]));

describe('applyInventoryChange', () => {
  it('makes an enabled profile the only enabled one (swap, enable, fallback, rollback)', () => {
    const out = applyInventoryChange(inventory, { kind: 'enabled', iccid: B });
    expect(out.changed).toBe(true);
    expect(states(out.profiles)).toEqual({
      [A]: 'disabled',
      [B]: 'enabled+fallback',
      [C]: 'disabled',
    });
  });

  it('changes nothing when the profile is already the enabled one', () => {
    expect(applyInventoryChange(inventory, { kind: 'enabled', iccid: A })).toEqual({
      profiles: inventory,
      changed: false,
      unknown: [],
    });
  });

  it('reports an unknown ICCID instead of inventing a profile', () => {
    for (const kind of ['enabled', 'disabled', 'installed'] as const)
      expect(applyInventoryChange(inventory, { kind, iccid: X })).toEqual({
        profiles: inventory,
        changed: false,
        unknown: [X],
      });
  });

  it('may leave no profile enabled after a disable, and removes a deleted one', () => {
    const disabled = applyInventoryChange(inventory, { kind: 'disabled', iccid: A });
    expect(disabled.profiles.filter((p) => p.state === 'enabled')).toEqual([]);
    const deleted = applyInventoryChange(inventory, { kind: 'deleted', iccid: C });
    expect(deleted.changed).toBe(true);
    expect(deleted.profiles.map((p) => p.iccid)).toEqual([A, B]);
    expect(applyInventoryChange(inventory, { kind: 'deleted', iccid: X }).changed).toBe(false);
  });

  it('keeps an installed profile it knows as it is (downloads install disabled)', () => {
    expect(applyInventoryChange(inventory, { kind: 'installed', iccid: C })).toMatchObject({
      changed: false,
      unknown: [],
    });
  });

  it('takes state and fallback from a boot report, disabling what it leaves out, deleting nothing', () => {
    const out = applyInventoryChange(inventory, {
      kind: 'reported',
      profiles: [
        { iccid: C, state: 'enabled', fallback: true },
        { iccid: B, state: 'disabled', fallback: false },
        { iccid: X, state: 'disabled', fallback: false },
      ],
    });
    expect(out).toMatchObject({ changed: true, unknown: [X] });
    expect(states(out.profiles)).toEqual({
      [A]: 'disabled',
      [B]: 'disabled',
      [C]: 'enabled+fallback',
    });
  });

  it('leaves unreported profiles alone when a boot report names no known enabled one', () => {
    const out = applyInventoryChange(inventory, {
      kind: 'reported',
      profiles: [{ iccid: X, state: 'enabled', fallback: false }],
    });
    expect(out).toEqual({ profiles: inventory, changed: false, unknown: [X] });
  });

  it('reads each eUICC notification as the change it reports', () => {
    const at = '2026-11-25T00:00:00Z';
    expect(
      (['install', 'enable', 'disable', 'delete', 'fallback', 'rollback'] as const).map((event) =>
        notifiedChange({ seqNumber: 1, event, iccid: B, at }),
      ),
    ).toEqual([
      { kind: 'installed', iccid: B },
      { kind: 'enabled', iccid: B },
      { kind: 'disabled', iccid: B },
      { kind: 'deleted', iccid: B },
      { kind: 'enabled', iccid: B },
      { kind: 'enabled', iccid: B },
    ]);
  });
});
