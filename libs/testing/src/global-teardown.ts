/** Stops what the global setup started (a stack that was already running is left alone). */
export default async function globalTeardown(): Promise<void> {
  await globalThis.meterlinkInfrastructure?.stop();
}
