/**
 * What the benchmark reads off the campaign while it runs: from periodic snapshots of
 * `GET /v1/campaigns/{id}`, when each wave started and finished, and the campaign's end.
 */
export interface WaveSnapshot {
  index: number;
  size: number;
  started: number;
  completed: number;
  rolledBack: number;
  failed: number;
  expired: number;
  cancelled: number;
  inFlight: number;
}

export interface CampaignSnapshot {
  state: string;
  waves: WaveSnapshot[];
}

export interface WaveTiming {
  index: number;
  size: number;
  /** Seconds from the campaign's approval: first seen with a started swap. */
  startedAtS: number | undefined;
  /** Seconds from approval: first seen with every swap of the wave finished. */
  finishedAtS: number | undefined;
  completed: number;
  notCompleted: number;
}

const finished = (w: WaveSnapshot): number =>
  w.completed + w.rolledBack + w.failed + w.expired + w.cancelled;

export class CampaignTimeline {
  private readonly waves = new Map<number, WaveTiming>();
  private endedAtS: number | undefined;
  private lastState = '';

  constructor(private readonly startMs: number) {}

  /** Records one snapshot taken at `atMs`. */
  observe(snapshot: CampaignSnapshot, atMs: number): void {
    const atS = Math.max(0, (atMs - this.startMs) / 1000);
    this.lastState = snapshot.state;
    for (const w of snapshot.waves) {
      const timing: WaveTiming = this.waves.get(w.index) ?? {
        index: w.index,
        size: w.size,
        startedAtS: undefined,
        finishedAtS: undefined,
        completed: 0,
        notCompleted: 0,
      };
      timing.size = w.size;
      if (timing.startedAtS === undefined && (w.started > 0 || finished(w) > 0))
        timing.startedAtS = atS;
      if (timing.finishedAtS === undefined && w.size > 0 && finished(w) >= w.size)
        timing.finishedAtS = atS;
      timing.completed = w.completed;
      timing.notCompleted = finished(w) - w.completed;
      this.waves.set(w.index, timing);
    }
    if (this.endedAtS === undefined && this.isOver()) this.endedAtS = atS;
  }

  isOver(): boolean {
    return ['completed', 'stopped', 'paused'].includes(this.lastState);
  }

  get state(): string {
    return this.lastState;
  }

  get durationS(): number | undefined {
    return this.endedAtS;
  }

  timings(): WaveTiming[] {
    return [...this.waves.values()].sort((a, b) => a.index - b.index);
  }
}

/** Swaps completed per second between the first swap record and the last completion. */
export function swapsPerSecond(completedAtMs: number[], startMs: number): number | undefined {
  if (completedAtMs.length === 0) return undefined;
  const last = Math.max(...completedAtMs);
  const seconds = (last - startMs) / 1000;
  return seconds > 0 ? completedAtMs.length / seconds : undefined;
}

/** Nearest-rank percentile of a list of numbers (p in 0..100). */
export function percentile(values: number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1];
}
