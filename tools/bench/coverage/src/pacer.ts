/** Records due by `elapsedMs` at `rate`/s that have not been sent yet, at most `cap`. */
export function quota(rate: number, elapsedMs: number, sent: number, cap: number): number {
  return Math.max(0, Math.min(cap, Math.floor((rate * elapsedMs) / 1000) - sent));
}

export interface PaceOptions<T> {
  rate: number;
  /** Stop after this many records... */
  total?: number;
  /** ...or after this long, whichever comes first. */
  durationMs?: number;
  /** Builds the next `n` records (sent as one request). */
  next: (n: number, now: number) => T[];
  send: (records: T[]) => Promise<void>;
  tickMs?: number;
  maxInFlight?: number;
  /** Records per request at most (a partition's batch must stay under the broker's 1 MiB). */
  maxBatch?: number;
}

export interface PaceResult {
  sent: number;
  seconds: number;
  /** What the producer managed, which on a busy machine can be below the target. */
  achievedRate: number;
}

/**
 * Produces at a target rate in ticks, with a bounded number of requests in flight; when the
 * producer can't keep up it falls behind rather than bursting, and says so in `achievedRate`.
 */
export async function pace<T>(options: PaceOptions<T>): Promise<PaceResult> {
  const tickMs = options.tickMs ?? 20;
  const maxInFlight = options.maxInFlight ?? 6;
  const cap = Math.max(
    1,
    Math.min(options.maxBatch ?? 2_000, Math.ceil((options.rate * tickMs * 4) / 1000)),
  );
  const total = options.total ?? Infinity;
  const durationMs = options.durationMs ?? Infinity;
  const started = Date.now();
  const inFlight = new Set<Promise<void>>();
  let sent = 0;
  let failure: Error | undefined;
  for (;;) {
    const now = Date.now();
    const elapsed = now - started;
    if (sent >= total || elapsed >= durationMs) break;
    if (failure) throw failure;
    const n = Math.min(total - sent, quota(options.rate, elapsed, sent, cap));
    if (n > 0 && inFlight.size < maxInFlight) {
      const request = options.send(options.next(n, now)).catch((error: unknown) => {
        failure = error instanceof Error ? error : new Error(String(error));
      });
      inFlight.add(request);
      void request.finally(() => inFlight.delete(request));
      sent += n;
      continue;
    }
    if (inFlight.size >= maxInFlight) await Promise.race(inFlight);
    else await new Promise((r) => setTimeout(r, tickMs));
  }
  await Promise.all(inFlight);
  if (failure) throw failure;
  const seconds = (Date.now() - started) / 1000;
  return { sent, seconds, achievedRate: sent / seconds };
}
