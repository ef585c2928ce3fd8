import {
  DEADLINE_OFFSET,
  STATUS_OFFSET,
  decodeMeterState,
  encodeMeterState,
  type StoredMeterState,
} from './meter-state.codec';

const state: StoredMeterState = {
  status: 'degraded',
  slow: true,
  badReports: 3,
  goodReports: 0,
  lastReportAt: Date.UTC(2026, 10, 24, 10, 15, 2, 123),
  lastSeq: 18_231,
  deadline: Date.UTC(2026, 10, 24, 10, 37, 32, 623),
  carrierIdx: 513,
  regionIdx: 65_535,
  partition: 5,
  iccid: '8944150000000000017',
};

describe('packed meter state', () => {
  it('round-trips every field in under 40 bytes', () => {
    const packed = encodeMeterState(state);
    expect(packed.length).toBe(39);
    expect(decodeMeterState(packed)).toEqual(state);
  });

  it('keeps ICCIDs of every allowed length, with or without a trailing F', () => {
    for (const iccid of ['894415000000000001', '8944150000000000017F', '8944150000000000017890'])
      expect(decodeMeterState(encodeMeterState({ ...state, iccid })).iccid).toBe(iccid);
  });

  it('saturates counters and sequence numbers instead of wrapping', () => {
    const decoded = decodeMeterState(
      encodeMeterState({ ...state, badReports: 1_000, lastSeq: Number.MAX_SAFE_INTEGER }),
    );
    expect(decoded.badReports).toBe(255);
    expect(decoded.lastSeq).toBe(2 ** 48 - 1);
  });

  it('puts status and deadline at fixed offsets', () => {
    const packed = encodeMeterState({ ...state, status: 'lost', slow: false });
    expect(packed[STATUS_OFFSET]! & 0x0f).toBe(2);
    expect(packed.readUIntBE(DEADLINE_OFFSET, 6)).toBe(state.deadline);
  });

  it('refuses what it cannot represent', () => {
    expect(() => encodeMeterState({ ...state, iccid: 'ABC' })).toThrow('cannot be packed');
    expect(() => encodeMeterState({ ...state, carrierIdx: 70_000 })).toThrow('out of range');
    expect(() => encodeMeterState({ ...state, partition: 70_000 })).toThrow('out of range');
    expect(() => decodeMeterState(Buffer.from([9, 0]))).toThrow('format');
  });
});
