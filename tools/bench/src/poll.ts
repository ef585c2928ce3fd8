/** Polls a condition until it holds, with a deadline: how the bench waits, never a blind sleep. */
export async function pollUntil(
  condition: () => Promise<boolean> | boolean,
  options: { timeoutMs: number; intervalMs: number; what: string },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${options.what}`);
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs));
  }
}
