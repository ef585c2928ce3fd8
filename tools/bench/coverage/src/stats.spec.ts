import { percentiles } from './stats';

describe('nearest-rank percentiles', () => {
  it('takes the sample at or above each rank', () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(percentiles(values)).toEqual({ count: 100, p50: 50, p90: 90, p99: 99, max: 100, mean: 50.5 });
  });
  it('reports nothing for no samples', () => {
    expect(percentiles([]).count).toBe(0);
    expect(percentiles([]).p99).toBeNaN();
  });
  it('uses the only sample for every rank', () => {
    expect(percentiles([7])).toMatchObject({ p50: 7, p99: 7, max: 7 });
  });
});
