import { percentilesOf } from './stats';

describe('percentilesOf', () => {
  it('uses nearest rank', () => {
    const values = new Float64Array(Array.from({ length: 1000 }, (_, i) => 1000 - i));
    const p = percentilesOf(values);
    expect(p).toMatchObject({ count: 1000, p50: 500, p90: 900, p99: 990, p999: 999, max: 1000 });
  });
});
