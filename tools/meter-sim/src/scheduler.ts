/** Time source and timers, injected so that meter logic runs on a fake clock in unit tests. */
export interface TimerHandle {
  cancel(): void;
}

export interface Scheduler {
  /** Milliseconds since the epoch. */
  now(): number;
  setTimer(delayMs: number, fn: () => void): TimerHandle;
}

// setTimeout overflows (and fires at once) above 2^31-1 ms.
const MAX_TIMEOUT_MS = 2_147_483_647;

export class RealScheduler implements Scheduler {
  now(): number {
    return Date.now();
  }

  setTimer(delayMs: number, fn: () => void): TimerHandle {
    let handle: NodeJS.Timeout | undefined;
    let cancelled = false;
    const due = Date.now() + Math.max(0, delayMs);
    // Node's timers run on a monotonic clock and may fire a millisecond before Date.now() reaches
    // the due time: re-arm until it has, so that now() >= due whenever fn runs.
    const arm = (): void => {
      if (cancelled) return;
      const remaining = due - Date.now();
      if (remaining <= 0) {
        fn();
        return;
      }
      handle = setTimeout(arm, Math.min(remaining, MAX_TIMEOUT_MS));
    };
    handle = setTimeout(arm, Math.min(Math.max(0, delayMs), MAX_TIMEOUT_MS));
    return {
      cancel: () => {
        cancelled = true;
        if (handle) clearTimeout(handle);
      },
    };
  }
}

interface ManualTimer {
  id: number;
  due: number;
  fn: () => void;
  cancelled: boolean;
}

/** A clock that only moves when told to; timers fire in due order (then creation order). */
export class ManualScheduler implements Scheduler {
  private current: number;
  private nextId = 0;
  private timers: ManualTimer[] = [];

  constructor(startMs = Date.UTC(2026, 10, 24, 10, 0, 0)) {
    this.current = startMs;
  }

  now(): number {
    return this.current;
  }

  setTimer(delayMs: number, fn: () => void): TimerHandle {
    const timer: ManualTimer = {
      id: this.nextId++,
      due: this.current + Math.max(0, delayMs),
      fn,
      cancelled: false,
    };
    this.timers.push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }

  /** Moves the clock forward by ms, firing every timer that falls due on the way. */
  advance(ms: number): void {
    const target = this.current + ms;
    for (;;) {
      this.timers = this.timers.filter((t) => !t.cancelled);
      let next: ManualTimer | undefined;
      for (const t of this.timers) {
        if (
          t.due <= target &&
          (!next || t.due < next.due || (t.due === next.due && t.id < next.id))
        )
          next = t;
      }
      if (!next) break;
      this.current = Math.max(this.current, next.due);
      next.cancelled = true;
      next.fn();
    }
    this.current = target;
  }

  pendingTimers(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }
}
