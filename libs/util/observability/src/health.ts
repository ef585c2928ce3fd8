export interface HealthStatus {
  ok: boolean;
  detail?: string;
}
export type HealthCheck = () => HealthStatus | Promise<HealthStatus>;

/**
 * Readiness is the conjunction of every registered dependency check (Kafka, MQTT, Redis,
 * PostgreSQL); liveness only says the event loop answers.
 */
export class HealthRegistry {
  private readonly checks = new Map<string, HealthCheck>();
  register(name: string, check: HealthCheck): void {
    this.checks.set(name, check);
  }
  async readiness(): Promise<{ ok: boolean; checks: Record<string, HealthStatus> }> {
    const entries = await Promise.all(
      [...this.checks].map(async ([name, check]): Promise<[string, HealthStatus]> => {
        try {
          return [name, await check()];
        } catch (error) {
          return [
            name,
            { ok: false, detail: error instanceof Error ? error.message : String(error) },
          ];
        }
      }),
    );
    return { ok: entries.every(([, s]) => s.ok), checks: Object.fromEntries(entries) };
  }
}
