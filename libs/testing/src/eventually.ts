/**
 * Polls until `probe` returns a value other than undefined/false (or stops throwing), or fails
 * at the deadline with the last reason. Tests wait on outcomes with this, never on fixed sleeps.
 */
export async function eventually<T>(
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  options: {
    timeoutMs?: number;
    intervalMs?: number;
    what?: string;
    /** Extra state to put in the timeout message, e.g. the last response seen. */
    detail?: () => string;
  } = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const intervalMs = options.intervalMs ?? 100;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const reason =
        (lastError instanceof Error ? `: ${lastError.message}` : '') +
        (options.detail ? ` (last: ${options.detail()})` : '');
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${options.what ?? 'condition'}${reason}`,
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
