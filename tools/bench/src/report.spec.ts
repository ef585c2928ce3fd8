import type { DeliveryReport } from './analysis';
import type { LoadResult } from './load';
import type { PhaseReport } from './phase';
import { evaluateTargets, saturated } from './report';

const percentiles = (p99: number): DeliveryReport['latencyMs'] => ({
  count: 1,
  p50: p99 / 2,
  p90: p99,
  p99,
  p999: p99,
  max: p99,
  mean: p99 / 2,
});

function phase(
  kind: PhaseReport['kind'],
  offered: number,
  delivered: number,
  options: {
    saturating?: boolean;
    drainMs?: number;
    p99?: number;
    lost?: number;
    durationS?: number;
  } = {},
): PhaseReport {
  return {
    kind,
    label: `${kind} ${offered}`,
    saturating: options.saturating ?? false,
    offeredRatePerS: offered,
    durationS: options.durationS ?? 60,
    warmupS: 5,
    generator: {} as LoadResult,
    cpuCores: {},
    delivery: {
      expected: 1,
      delivered: 1,
      lost: options.lost ?? 0,
      duplicated: 0,
      foreign: 0,
      deliveredRatePerS: delivered,
      steadyWindowS: 55,
      perSecond: { min: delivered, max: delivered },
      latencyMs: percentiles(options.p99 ?? 10),
      latencyAllMs: percentiles(options.p99 ?? 10),
      drainMs: options.drainMs ?? 0,
      slowest: [],
    },
  };
}

const status = (phases: PhaseReport[], name: RegExp): string | undefined =>
  evaluateTargets(phases).targets.find((t) => name.test(t.target))?.status;

describe('evaluateTargets', () => {
  it('judges the latency target at a fixed rate of 11,000 msg/s or more', () => {
    expect(status([phase('ingestion', 11_000, 11_000, { p99: 20 })], /p99/)).toBe('PASS');
    expect(status([phase('ingestion', 11_000, 11_000, { p99: 30 })], /p99/)).toBe('FAIL');
    expect(status([phase('ingestion', 11_000, 11_000, { p99: 20, lost: 1 })], /p99/)).toBe('FAIL');
    expect(status([phase('ingestion', 5_000, 5_000, { p99: 1 })], /p99/)).toBe('n/a');
  });

  it('judges the sustained rate only on phases of 60 s at max or at 35,000 msg/s and more', () => {
    expect(status([phase('ingestion', 35_000, 35_010)], /sustained/)).toBe('PASS');
    expect(status([phase('ingestion', 35_000, 35_010, { durationS: 20 })], /sustained/)).toBe(
      'n/a',
    );
    const max = phase('ingestion', 50_000, 30_000, { saturating: true, drainMs: 30_000 });
    expect(status([max], /sustained/)).toBe('FAIL');
  });

  it('compares with the baseline only when both were offered more than they took', () => {
    const baseline = phase('baseline', 50_000, 40_000, { saturating: true, drainMs: 20_000 });
    const ingestion = phase('ingestion', 50_000, 36_000, { saturating: true, drainMs: 25_000 });
    const result = evaluateTargets([baseline, ingestion]);
    expect(result.ratio?.ratio).toBeCloseTo(0.9);
    expect(status([baseline, ingestion], /baseline/)).toBe('PASS');
    const keptUp = phase('ingestion', 5_000, 5_000, { saturating: true });
    expect(saturated(keptUp)).toBe(false);
    expect(status([baseline, keptUp], /baseline/)).toBe('n/a');
  });
});
