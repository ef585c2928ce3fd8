/**
 * Runs queries on one PostgreSQL client one after the other (a client runs one query at a time;
 * pg deprecates queueing them), answering like Promise.all.
 */
export async function inTurn<T extends readonly (() => Promise<unknown>)[]>(
  tasks: T,
): Promise<{ -readonly [K in keyof T]: Awaited<ReturnType<T[K]>> }> {
  const results: unknown[] = [];
  for (const task of tasks) results.push(await task());
  return results as { -readonly [K in keyof T]: Awaited<ReturnType<T[K]>> };
}
