import { carrierCatalogueSchema, uncataloguedCarriers } from './manifest';
import { SPEC_SAMPLE_CARRIERS, SPEC_SAMPLE_CATALOGUE_JSON } from './samples';

describe('carrier catalogue contract', () => {
  it("accepts provisioning.md's sample catalogue as it is, region south's carrier-c included", () => {
    const parsed = carrierCatalogueSchema.parse(JSON.parse(SPEC_SAMPLE_CATALOGUE_JSON));
    expect(parsed.carriers).toEqual(SPEC_SAMPLE_CARRIERS);
    expect(parsed.regions).toEqual([
      { region: 'north', carriers: ['carrier-a', 'carrier-b'] },
      { region: 'south', carriers: ['carrier-b', 'carrier-c'] },
    ]);
  });

  it('names each region carrier that the catalogue does not describe, where it is named', () => {
    const parsed = carrierCatalogueSchema.parse(JSON.parse(SPEC_SAMPLE_CATALOGUE_JSON));
    expect(uncataloguedCarriers(parsed)).toEqual([
      { region: 'south', carrierId: 'carrier-c', path: 'regions.1.carriers.1' },
    ]);
    expect(uncataloguedCarriers({ ...parsed, regions: parsed.regions.slice(0, 1) })).toEqual([]);
  });

  it('still refuses a malformed carrier id in a region', () => {
    const bad = {
      ...(JSON.parse(SPEC_SAMPLE_CATALOGUE_JSON) as Record<string, unknown>),
      regions: [{ region: 'x', carriers: ['Carrier C'] }],
    };
    expect(carrierCatalogueSchema.safeParse(bad).success).toBe(false);
  });
});
