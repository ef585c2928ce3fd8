import type { Logger } from '@meterlink/observability';
import type { Pool } from 'pg';
import { migrate } from './migrate';
import { createPool } from './pool';

export const quoteIdent = (name: string): string => `"${name.replaceAll('"', '""')}"`;

/** A service's schema: its migrations, and the tables its own role may only append to. */
export interface OwnedSchema {
  schema: string;
  folder: string;
  appendOnlyTables: readonly string[];
}

/**
 * What the service's own role may do in its schema: read and write every table but the
 * append-only ones, which it may only read and append to. The owner runs this after each
 * migration, so tables a migration adds are covered too.
 */
export const appRoleGrants = (
  owned: Pick<OwnedSchema, 'schema' | 'appendOnlyTables'>,
  appRole: string,
): string[] => {
  const role = quoteIdent(appRole);
  const schema = quoteIdent(owned.schema);
  return [
    `GRANT USAGE ON SCHEMA ${schema} TO ${role}`,
    `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${schema} TO ${role}`,
    `GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA ${schema} TO ${role}`,
    ...owned.appendOnlyTables.map(
      (table) =>
        `REVOKE UPDATE, DELETE, TRUNCATE, TRIGGER, REFERENCES ON ${schema}.${quoteIdent(table)} FROM ${role}`,
    ),
  ];
};

const currentRole = async (pool: Pool): Promise<string> =>
  (await pool.query<{ role: string }>('SELECT current_user AS role')).rows[0]!.role;

/**
 * Migrations run as the schema's owner (DATABASE_OWNER_URL) and the service as another role
 * (DATABASE_URL), so the append-only tables' triggers are out of the service's reach: only an
 * owner may drop or disable a trigger, and the service's role holds no UPDATE, DELETE or
 * TRUNCATE on those tables either. Without an owner URL the service migrates as itself, owns the
 * tables, and the triggers are all that protect them: said once at start.
 */
export async function migrateOwnedSchema(
  appPool: Pool,
  ownerUrl: string | undefined,
  owned: OwnedSchema,
  log: Logger,
): Promise<void> {
  const appRole = await currentRole(appPool);
  if (!ownerUrl) {
    await migrate(appPool, owned.schema, owned.folder);
    log.warn(
      { role: appRole, schema: owned.schema, appendOnly: owned.appendOnlyTables },
      'migrations ran as the service role (no DATABASE_OWNER_URL): it owns its append-only tables and could drop their triggers',
    );
    return;
  }
  const owner = createPool(ownerUrl, `${owned.schema}-migrate`, 1);
  try {
    const ownerRole = await currentRole(owner);
    if (ownerRole === appRole)
      throw new Error(
        `DATABASE_OWNER_URL and DATABASE_URL are the same role (${appRole}): the service would own its append-only tables`,
      );
    await migrate(owner, owned.schema, owned.folder);
    for (const statement of appRoleGrants(owned, appRole)) await owner.query(statement);
    log.info(
      { owner: ownerRole, role: appRole, schema: owned.schema },
      'schema migrated by its owner',
    );
  } finally {
    await owner.end();
  }
}
