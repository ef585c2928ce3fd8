import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Pool } from 'pg';
import { createLogger } from '@meterlink/observability';
import { withTransaction } from './transaction';

/**
 * Applies `NNN_name.sql` files from a folder in order, each once, inside a transaction and under
 * an advisory lock so that replicas starting together do not race. Each service owns one schema.
 */
export async function migrate(pool: Pool, schema: string, folder: string): Promise<string[]> {
  const log = createLogger('migrate');
  const files = (await readdir(folder)).filter((f) => /^\d+_.+\.sql$/.test(f)).sort();
  const applied: string[] = [];
  await withTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`migrate:${schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${schema}.schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const done = new Set(
      (
        await client.query<{ name: string }>(`SELECT name FROM ${schema}.schema_migrations`)
      ).rows.map((r) => r.name),
    );
    for (const file of files) {
      if (done.has(file)) continue;
      await client.query(`SET LOCAL search_path TO ${schema}, public`);
      await client.query(await readFile(join(folder, file), 'utf8'));
      await client.query(`INSERT INTO ${schema}.schema_migrations (name) VALUES ($1)`, [file]);
      applied.push(file);
    }
  });
  if (applied.length > 0) log.info({ schema, applied }, 'migrations applied');
  return applied;
}
