import type { Carrier } from './manifest';

/**
 * The two carriers of provisioning.md's sample catalogue, exactly as the spec gives them: the
 * tariffs that hand-computed test cases, simulations and benchmarks all use.
 */
export const SPEC_SAMPLE_CARRIERS: readonly Carrier[] = [
  {
    carrierId: 'carrier-a',
    name: 'Carrier A',
    plmns: ['23415'],
    smdpAddress: 'smdp.carrier-a.example',
    tariff: {
      currency: 'EUR',
      monthlyFeeMinor: 60,
      perMbMinor: 25,
      downloadFeeMinor: 150,
      swapFeeMinor: 20,
    },
  },
  {
    carrierId: 'carrier-b',
    name: 'Carrier B',
    plmns: ['23420'],
    smdpAddress: 'smdp.carrier-b.example',
    tariff: {
      currency: 'EUR',
      monthlyFeeMinor: 80,
      perMbMinor: 18,
      downloadFeeMinor: 100,
      swapFeeMinor: 0,
    },
  },
];

/**
 * provisioning.md's sample carrier catalogue, verbatim as the text a factory would send: the
 * platform must accept it as it is (its region south names carrier-c, which it does not describe).
 */
export const SPEC_SAMPLE_CATALOGUE_JSON = `{"carriers":[
  {"carrierId":"carrier-a","name":"Carrier A","plmns":["23415"],"smdpAddress":"smdp.carrier-a.example",
   "tariff":{"currency":"EUR","monthlyFeeMinor":60,"perMbMinor":25,"downloadFeeMinor":150,"swapFeeMinor":20}},
  {"carrierId":"carrier-b","name":"Carrier B","plmns":["23420"],"smdpAddress":"smdp.carrier-b.example",
   "tariff":{"currency":"EUR","monthlyFeeMinor":80,"perMbMinor":18,"downloadFeeMinor":100,"swapFeeMinor":0}}],
 "regions":[{"region":"north","carriers":["carrier-a","carrier-b"]},{"region":"south","carriers":["carrier-b","carrier-c"]}]}`;
