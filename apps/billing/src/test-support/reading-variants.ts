import { DATETIME_VARIANTS } from '@meterlink/testing';
/**
 * A well-formed meter.readings.v1 record and variants of each field around what the contract
 * schema allows, for the specs of the checks that stand in for the schema on the hot path.
 */
export const validReading = {
  eventId: '0b8f0c3e-1a2b-4c3d-8e4f-5a6b7c8d9e0f',
  type: 'meter.reading',
  at: '2026-11-01T00:15:00.000Z',
  meterId: 'BB-202611-000001',
  kind: 'electricity',
  register: 'energy_import_wh',
  value: 1_000_050,
  seq: 2,
  receivedAt: '2026-11-01T00:15:02.000Z',
  sentAt: '2026-11-01T00:15:01.000Z',
};

/** Each field replaced by values around what the schema allows (undefined: the key removed). */
export const READING_VARIANTS: Record<string, unknown[]> = {
  eventId: [
    undefined,
    null,
    42,
    '',
    '0B8F0C3E-1A2B-4C3D-8E4F-5A6B7C8D9E0F',
    '00000000-0000-0000-0000-000000000000',
    'ffffffff-ffff-ffff-ffff-ffffffffffff',
    '0b8f0c3e-1a2b-9c3d-8e4f-5a6b7c8d9e0f',
    '0b8f0c3e-1a2b-4c3d-7e4f-5a6b7c8d9e0f',
    '0b8f0c3e1a2b4c3d8e4f5a6b7c8d9e0f',
    ' 0b8f0c3e-1a2b-4c3d-8e4f-5a6b7c8d9e0f',
  ],
  type: [undefined, 'meter.readings', 'meter.connectivity', '', null],
  at: [...DATETIME_VARIANTS],
  correlationId: [undefined, '', 'c', 'x'.repeat(128), 'x'.repeat(129), null, 7],
  causationId: [undefined, '', 'c', 'x'.repeat(128), 'x'.repeat(129), null, 7],
  meterId: [
    undefined,
    null,
    'AB',
    'ABC',
    'a'.repeat(64),
    'a'.repeat(65),
    'M 1',
    'M/1',
    'MÉTER',
    'NULL',
    'm.1_x-2',
  ],
  kind: [undefined, 'gas', 'water', 'heat', 'Electricity', null],
  register: [undefined, 'energy_export_wh', 'volume_l', 'power_w', null],
  value: [
    undefined,
    null,
    0,
    -0,
    -1,
    1.5,
    Number.MAX_SAFE_INTEGER,
    Number.MAX_SAFE_INTEGER + 1,
    '5',
    1e21,
  ],
  seq: [undefined, null, 0, -1, 2.5, Number.MAX_SAFE_INTEGER, 2 ** 60, '2'],
  receivedAt: [undefined, '2026-11-01T00:15:02Z', '2026-11-01T00:15:02', 'yesterday'],
  sentAt: [undefined, '2026-11-01T00:15:01-05:30', '2026-13-01T00:15:01Z', ''],
};

export function readingVariants(): unknown[] {
  const out: unknown[] = [validReading, null, [], 'reading', 42, [validReading], {}];
  for (const [field, values] of Object.entries(READING_VARIANTS)) {
    for (const value of values) {
      const copy: Record<string, unknown> = { ...validReading };
      if (value === undefined) delete copy[field];
      else copy[field] = value;
      out.push(copy);
    }
  }
  out.push({ ...validReading, extra: 1 });
  out.push(JSON.parse(`{"__proto__": {"x": 1}, ${JSON.stringify(validReading).slice(1)}`));
  out.push({ ...validReading, correlationId: 'corr-1', causationId: 'cause-1' });
  return out;
}
