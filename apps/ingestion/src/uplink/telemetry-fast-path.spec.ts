import { telemetryMessageSchema } from '@meterlink/contracts';
import { conformingTelemetry } from './telemetry-fast-path';
import { DATETIME_VARIANTS, sampleTelemetry } from '@meterlink/testing';

const valid = sampleTelemetry();

const DATETIMES = [...DATETIME_VARIANTS];
const UINTS = [undefined, null, 0, 1, -1, 1.5, -0, '1', 2 ** 53 - 1, 2 ** 53, 1e300, true];
const NULLABLE_NUMBERS = [undefined, null, 0, -95.5, 1e300, '1', true, {}];

/** Each field replaced by values around what the schema allows (undefined: the key removed). */
const ROOT_VARIANTS: Record<string, unknown[]> = {
  v: [undefined, null, 0, 2, '1', 1.0, true],
  seq: UINTS,
  sentAt: DATETIMES,
  kind: [undefined, null, 'gas', 'water', 'heat', 'Electricity', ''],
  readings: [
    undefined,
    null,
    {},
    [],
    [null],
    ['x'],
    [[]],
    Array.from({ length: 96 }, () => valid.readings[0]),
    Array.from({ length: 97 }, () => valid.readings[0]),
    [{ ...valid.readings[0], extra: 1 }],
    [{ at: valid.readings[0]!.at, register: 'energy_import_wh' }],
    [{ ...valid.readings[0], register: 'volume_l' }],
    [{ ...valid.readings[0], register: 'energy_export_wh' }],
    [{ ...valid.readings[0], register: 'nope' }],
    ...DATETIMES.map((at) => [{ ...valid.readings[0], at }]),
    ...UINTS.map((value) => [{ ...valid.readings[0], value }]),
  ],
  radio: [undefined, null, [], 'x', {}, { ...valid.radio, extra: 1 }],
  battery: [
    undefined,
    null,
    {},
    [],
    { pct: 0 },
    { pct: 100 },
    { pct: 55.5 },
    { pct: -0.1 },
    { pct: 100.1 },
    { pct: '50' },
    { pct: null },
    { pct: 50, extra: 1 },
  ],
  usage: [
    undefined,
    null,
    {},
    { bytesUp: 1 },
    { bytesUp: 1, bytesDown: 2, extra: 3 },
    ...UINTS.map((bytesUp) => ({ bytesUp, bytesDown: 1 })),
    ...UINTS.map((bytesDown) => ({ bytesUp: 1, bytesDown })),
  ],
  extra: [undefined, 1, null, 'x'],
  __proto__: [{ x: 1 }],
};

const RADIO_VARIANTS: Record<string, unknown[]> = {
  rat: [undefined, null, 'nbiot', 'ltem', 'lte', 'gsm', '5g', ''],
  iccid: [
    undefined,
    null,
    '894410000000000001',
    '8944100000000000017F',
    '8944100000000000017f',
    '89441000000000000',
    '89441000000000000171234',
    ' 8944100000000000017',
    8.944e18,
  ],
  plmn: [undefined, null, '2341', '23415', '234150', '2341500', 'abcde', 23415],
  cellId: [undefined, null, '', 'x'.repeat(32), 'x'.repeat(33), 'é'.repeat(32), '"\\\n', 42],
  rsrp: NULLABLE_NUMBERS,
  rsrq: NULLABLE_NUMBERS,
  sinr: NULLABLE_NUMBERS,
  attachFailures: UINTS,
};

function withField(base: object, key: string, value: unknown): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...base };
  if (value === undefined) delete copy[key];
  else Object.defineProperty(copy, key, { value, enumerable: true, writable: true });
  return copy;
}

/** The fast path may say no to anything, but a yes must be zod's yes with the same value. */
function expectAgrees(message: Record<string, unknown>): boolean {
  const fast = conformingTelemetry(message);
  const parsed = telemetryMessageSchema.safeParse(message);
  if (fast !== undefined) {
    expect(parsed.success).toBe(true);
    expect(fast).toBe(message);
    expect(parsed.data).toStrictEqual(message);
  }
  return fast !== undefined;
}

describe('conformingTelemetry', () => {
  it('takes the bench and simulator message as it is', () => {
    expect(conformingTelemetry(valid)).toBe(valid);
    expect(conformingTelemetry({ ...valid, battery: { pct: 80 } })).toBeDefined();
    expect(conformingTelemetry({ ...valid, kind: 'water', readings: [] })).toBeDefined();
  });

  it('never accepts what zod rejects or would change, field by field', () => {
    let accepted = 0;
    let variants = 0;
    for (const [key, values] of Object.entries(ROOT_VARIANTS)) {
      for (const value of values) {
        variants++;
        if (expectAgrees(withField(valid, key, value))) accepted++;
      }
    }
    for (const [key, values] of Object.entries(RADIO_VARIANTS)) {
      for (const value of values) {
        variants++;
        if (expectAgrees({ ...valid, radio: withField(valid.radio, key, value) })) accepted++;
      }
    }
    // Both ways happen: the fast path is used, and it does turn things away.
    expect(accepted).toBeGreaterThan(20);
    expect(accepted).toBeLessThan(variants);
  });

  it('leaves gas and water registers to the schema', () => {
    for (const kind of ['gas', 'water', 'electricity'])
      for (const register of ['energy_import_wh', 'energy_export_wh', 'volume_l'])
        expectAgrees({ ...valid, kind, readings: [{ ...valid.readings[0], register }] });
  });

  it('turns away non-plain values and inherited keys', () => {
    expect(conformingTelemetry(Object.create(valid) as Record<string, unknown>)).toBeUndefined();
    expect(
      conformingTelemetry(
        JSON.parse(JSON.stringify(valid).replace('{', '{"__proto__":{},')) as Record<
          string,
          unknown
        >,
      ),
    ).toBeUndefined();
  });
});
