import { appRoleGrants, quoteIdent } from './schema-owner';

describe('the service role grants of its own schema', () => {
  const grants = appRoleGrants(
    { schema: 'registry', appendOnlyTables: ['audit_log', 'ledger'] },
    'meterlink',
  );

  it('takes every right on each append-only table but appending and reading', () => {
    expect(grants).toContain(
      'REVOKE UPDATE, DELETE, TRUNCATE, TRIGGER, REFERENCES ON "registry"."audit_log" FROM "meterlink"',
    );
    expect(grants).toContain(
      'REVOKE UPDATE, DELETE, TRUNCATE, TRIGGER, REFERENCES ON "registry"."ledger" FROM "meterlink"',
    );
    // The revokes come after the table-wide grant, which would otherwise give them back.
    const tableWide = grants.findIndex((g) => g.includes('ON ALL TABLES'));
    const firstRevoke = grants.findIndex((g) => g.startsWith('REVOKE'));
    expect(tableWide).toBeGreaterThanOrEqual(0);
    expect(firstRevoke).toBeGreaterThan(tableWide);
  });

  it('grants the schema, its tables and sequences to the service role', () => {
    expect(grants.slice(0, 3)).toEqual([
      'GRANT USAGE ON SCHEMA "registry" TO "meterlink"',
      'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "registry" TO "meterlink"',
      'GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA "registry" TO "meterlink"',
    ]);
  });

  it('quotes the role name as an identifier', () => {
    expect(quoteIdent('svc')).toBe('"svc"');
    expect(quoteIdent('a"; DROP TABLE x; --')).toBe('"a""; DROP TABLE x; --"');
  });
});
