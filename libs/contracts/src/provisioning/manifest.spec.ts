import { carrierCatalogueSchema, uncataloguedCarriers } from './manifest';
import { SPEC_SAMPLE_CARRIERS } from './samples';

/** provisioning.md's sample carrier catalogue, verbatim: the platform must accept it as it is. */
const SPEC_SAMPLE_CATALOGUE = `{"carriers":[
  {"carrierId":"carrier-a","name":"Carrier A","plmns":["23415"],"smdpAddress":"smdp.carrier-a.example",
   "tariff":{"currency":"EUR","monthlyFeeMinor":60,"perMbMinor":25,"downloadFeeMinor":150,"swapFeeMinor":20}},
  {"carrierId":"carrier-b","name":"Carrier B","plmns":["23420"],"smdpAddress":"smdp.carrier-b.example",
   "tariff":{"currency":"EUR","monthlyFeeMinor":80,"perMbMinor":18,"downloadFeeMinor":100,"swapFeeMinor":0}}],
 "regions":[{"region":"north","carriers":["carrier-a","carrier-b"]},{"region":"south","carriers":["carrier-b","carrier-c"]}]}`;

describe('carrier catalogue contract', () => {
  it("accepts provisioning.md's sample catalogue as it is, region south's carrier-c included", () => {
    const parsed = carrierCatalogueSchema.parse(JSON.parse(SPEC_SAMPLE_CATALOGUE));
    expect(parsed.carriers).toEqual(SPEC_SAMPLE_CARRIERS);
    expect(parsed.regions).toEqual([
      { region: 'north', carriers: ['carrier-a', 'carrier-b'] },
      { region: 'south', carriers: ['carrier-b', 'carrier-c'] },
    ]);
  });

  it('names each region carrier that the catalogue does not describe, where it is named', () => {
    const parsed = carrierCatalogueSchema.parse(JSON.parse(SPEC_SAMPLE_CATALOGUE));
    expect(uncataloguedCarriers(parsed)).toEqual([
      { region: 'south', carrierId: 'carrier-c', path: 'regions.1.carriers.1' },
    ]);
    expect(uncataloguedCarriers({ ...parsed, regions: parsed.regions.slice(0, 1) })).toEqual([]);
  });

  it('still refuses a malformed carrier id in a region', () => {
    const bad = {
      ...(JSON.parse(SPEC_SAMPLE_CATALOGUE) as Record<string, unknown>),
      regions: [{ region: 'x', carriers: ['Carrier C'] }],
    };
    expect(carrierCatalogueSchema.safeParse(bad).success).toBe(false);
  });
});
