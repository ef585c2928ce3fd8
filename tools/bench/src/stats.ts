export interface Percentiles {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

/**
 * Every sample kept (4 bytes each: two million messages are 8 MB), so percentiles are exact
 * (nearest rank) rather than bucket estimates.
 */
export class Histogram {
  private values = new Float32Array(1 << 16);
  private size = 0;

  record(value: number): void {
    if (this.size === this.values.length) {
      const grown = new Float32Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.size++] = value;
  }

  get count(): number {
    return this.size;
  }

  percentiles(): Percentiles {
    return percentilesOf(this.values.subarray(0, this.size));
  }
}

/** Nearest-rank percentiles; sorts `values` in place. */
export function percentilesOf(values: Float32Array | Float64Array): Percentiles {
  const n = values.length;
  if (n === 0) return { count: 0, p50: NaN, p90: NaN, p99: NaN, p999: NaN, max: NaN, mean: NaN };
  values.sort();
  let sum = 0;
  for (let i = 0; i < n; i++) sum += values[i]!;
  const at = (p: number): number => values[Math.min(n - 1, Math.max(0, Math.ceil(p * n) - 1))]!;
  return {
    count: n,
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    p999: at(0.999),
    max: values[n - 1]!,
    mean: sum / n,
  };
}
