import { CampaignTimeline, percentile, swapsPerSecond, type WaveSnapshot } from './timeline';

const wave = (index: number, size: number, over: Partial<WaveSnapshot> = {}): WaveSnapshot => ({
  index,
  size,
  started: 0,
  completed: 0,
  rolledBack: 0,
  failed: 0,
  expired: 0,
  cancelled: 0,
  inFlight: 0,
  ...over,
});

describe('CampaignTimeline', () => {
  it('records when each wave started and finished, relative to the start', () => {
    const t = new CampaignTimeline(1_000);
    t.observe(
      { state: 'running', waves: [wave(0, 10, { started: 3, inFlight: 3 }), wave(1, 20)] },
      2_000,
    );
    t.observe(
      {
        state: 'running',
        waves: [wave(0, 10, { started: 10, completed: 9, failed: 1 }), wave(1, 20)],
      },
      4_000,
    );
    t.observe(
      {
        state: 'running',
        waves: [wave(0, 10, { started: 10, completed: 9, failed: 1 }), wave(1, 20, { started: 5 })],
      },
      5_000,
    );
    t.observe(
      {
        state: 'completed',
        waves: [
          wave(0, 10, { started: 10, completed: 9, failed: 1 }),
          wave(1, 20, { started: 20, completed: 20 }),
        ],
      },
      9_000,
    );
    expect(t.timings()).toEqual([
      { index: 0, size: 10, startedAtS: 1, finishedAtS: 3, completed: 9, notCompleted: 1 },
      { index: 1, size: 20, startedAtS: 4, finishedAtS: 8, completed: 20, notCompleted: 0 },
    ]);
    expect(t.isOver()).toBe(true);
    expect(t.durationS).toBe(8);
  });

  it('is not over while running, and a pause ends the measurement', () => {
    const t = new CampaignTimeline(0);
    t.observe({ state: 'running', waves: [] }, 1_000);
    expect(t.isOver()).toBe(false);
    expect(t.durationS).toBeUndefined();
    t.observe({ state: 'paused', waves: [] }, 2_000);
    expect(t.durationS).toBe(2);
    expect(t.state).toBe('paused');
  });
});

describe('swapsPerSecond and percentile', () => {
  it('divides completions by the time from the start to the last one', () => {
    expect(swapsPerSecond([2_000, 3_000, 5_000], 1_000)).toBe(0.75);
    expect(swapsPerSecond([], 0)).toBeUndefined();
  });

  it('takes the nearest-rank percentile', () => {
    expect(percentile([5, 1, 4, 2, 3], 50)).toBe(3);
    expect(percentile([5, 1, 4, 2, 3], 100)).toBe(5);
    expect(percentile([5, 1, 4, 2, 3], 0)).toBe(1);
    expect(percentile([], 50)).toBeUndefined();
  });
});
