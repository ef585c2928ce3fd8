import { carrierCatalogueSchema } from '@meterlink/contracts';
import { benchFleet } from './fleet-scenario';

describe('benchFleet', () => {
  it('splits the meters between those with a target profile and those needing a download', () => {
    const fleet = benchFleet({
      tag: 'a1b2c3',
      meters: 10_000,
      downloadShare: 0.1,
      attachS: [1, 2],
    });
    expect(fleet).toMatchObject({
      region: 'bench-a1b2c3',
      fromCarrierId: 'bench-a-a1b2c3',
      toCarrierId: 'bench-b-a1b2c3',
      withProfile: 9_000,
      needingDownload: 1_000,
    });
    const groups = fleet.scenario.fleet as { count: number; otherProfiles: string[] }[];
    expect(groups.map((g) => [g.count, g.otherProfiles])).toEqual([
      [9_000, ['bench-b-a1b2c3']],
      [1_000, []],
    ]);
    expect(carrierCatalogueSchema.safeParse(fleet.scenario.catalogue).success).toBe(true);
  });

  it('leaves out an empty group', () => {
    const all = benchFleet({ tag: 'ff', meters: 50, downloadShare: 0, attachS: [1, 2] });
    expect((all.scenario.fleet as unknown[]).length).toBe(1);
    const none = benchFleet({ tag: 'ff', meters: 50, downloadShare: 1, attachS: [1, 2] });
    expect(none).toMatchObject({ withProfile: 0, needingDownload: 50 });
  });
});
