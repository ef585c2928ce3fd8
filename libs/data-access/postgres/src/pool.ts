import { Pool } from 'pg';
import { createLogger } from '@meterlink/observability';

export function createPool(connectionString: string, applicationName: string, max = 10): Pool {
  const pool = new Pool({
    connectionString,
    application_name: applicationName,
    max,
    connectionTimeoutMillis: 5_000,
  });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', (error) =>
    createLogger('pg').warn({ err: error }, 'idle PostgreSQL client error'),
  );
  return pool;
}

export async function pingPostgres(pool: Pool): Promise<{ ok: boolean; detail?: string }> {
  try {
    await pool.query('SELECT 1');
    return { ok: true };
  } catch (error) {
    return { ok: false, detail: error instanceof Error ? error.message : String(error) };
  }
}
