export interface RetryPolicy {
  /** Failures that are the message's or our code's fault before the message is dead-lettered. */
  maxDefects: number;
  isTransient: (error: unknown) => boolean;
  /** Backoff before the given attempt (1-based) is retried. */
  delayMs: (attempt: number) => number;
  sleep: (ms: number) => Promise<void>;
  stopping: () => boolean;
  onRetry?: (error: unknown, attempt: number, transient: boolean, delayMs: number) => void;
}

export type RetryOutcome = 'processed' | 'dead-lettered' | 'abandoned';

/**
 * Runs `process` until it succeeds. Failures because a dependency is away are retried without
 * limit (giving up would lose an acknowledged-to-be message); after `maxDefects` other failures
 * the message goes to `deadLetter` instead, so one poisonous message cannot hold a connection's
 * acknowledgements forever. Returns `abandoned` only when the service is stopping, in which case
 * the caller must not acknowledge.
 */
export async function processWithRetries(
  process: () => Promise<unknown>,
  deadLetter: (lastDefect: unknown) => Promise<unknown>,
  policy: RetryPolicy,
): Promise<RetryOutcome> {
  let defects = 0;
  let attempt = 0;
  let lastDefect: unknown;
  while (!policy.stopping()) {
    try {
      if (defects >= policy.maxDefects) {
        await deadLetter(lastDefect);
        return 'dead-lettered';
      }
      await process();
      return 'processed';
    } catch (error) {
      attempt++;
      const transient = policy.isTransient(error);
      if (!transient) {
        defects++;
        lastDefect = error;
      }
      const delay = policy.delayMs(attempt);
      policy.onRetry?.(error, attempt, transient, delay);
      await policy.sleep(delay);
    }
  }
  return 'abandoned';
}
