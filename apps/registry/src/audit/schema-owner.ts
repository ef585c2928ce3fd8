import { createPool, migrate, type Pool } from '@meterlink/postgres';
import type { Logger } from '@meterlink/observability';

export const REGISTRY_SCHEMA = 'registry';

/**
 * What the service's own role may do in the registry schema: read and write every table but the
 * audit log, to which it may only append. The owner runs this after each migration, so tables a
 * migration adds are covered too.
 */
export const appRoleGrants = (appRole: string): string[] => {
  const role = quoteIdent(appRole);
  return [
    `GRANT USAGE ON SCHEMA ${REGISTRY_SCHEMA} TO ${role}`,
    `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${REGISTRY_SCHEMA} TO ${role}`,
    `GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA ${REGISTRY_SCHEMA} TO ${role}`,
    `REVOKE UPDATE, DELETE, TRUNCATE, TRIGGER, REFERENCES ON ${REGISTRY_SCHEMA}.audit_log FROM ${role}`,
  ];
};

export const quoteIdent = (name: string): string => `"${name.replaceAll('"', '""')}"`;

/**
 * Migrations run as the schema's owner (DATABASE_OWNER_URL) and the service as another role
 * (DATABASE_URL), so the audit log's append-only triggers are out of the service's reach: only an
 * owner may drop or disable a trigger, and the service's role holds no UPDATE, DELETE or
 * TRUNCATE on the table either. Without an owner URL the service migrates as itself, owns the
 * table, and the triggers are all that protect the log: said once at start.
 */
export async function migrateRegistry(
  appPool: Pool,
  ownerUrl: string | undefined,
  folder: string,
  log: Logger,
): Promise<void> {
  const appRole = (await appPool.query<{ role: string }>('SELECT current_user AS role')).rows[0]!
    .role;
  if (!ownerUrl) {
    await migrate(appPool, REGISTRY_SCHEMA, folder);
    log.warn(
      { role: appRole },
      'migrations ran as the service role (no DATABASE_OWNER_URL): it owns registry.audit_log and could drop its append-only triggers',
    );
    return;
  }
  const owner = createPool(ownerUrl, 'registry-migrate', 1);
  try {
    const ownerRole = (await owner.query<{ role: string }>('SELECT current_user AS role')).rows[0]!
      .role;
    if (ownerRole === appRole)
      throw new Error(
        `DATABASE_OWNER_URL and DATABASE_URL are the same role (${appRole}): the service would own the audit log`,
      );
    await migrate(owner, REGISTRY_SCHEMA, folder);
    for (const statement of appRoleGrants(appRole)) await owner.query(statement);
    log.info({ owner: ownerRole, role: appRole }, 'registry schema migrated by its owner');
  } finally {
    await owner.end();
  }
}
