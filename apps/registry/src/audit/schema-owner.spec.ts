import { appRoleGrants, quoteIdent } from './schema-owner';

describe('the service role grants of the registry schema', () => {
  it('takes every right on the audit log but appending and reading', () => {
    const grants = appRoleGrants('meterlink');
    expect(grants).toContain(
      'REVOKE UPDATE, DELETE, TRUNCATE, TRIGGER, REFERENCES ON registry.audit_log FROM "meterlink"',
    );
    // The revoke comes after the table-wide grant, which would otherwise give them back.
    const tableWide = grants.findIndex((g) => g.includes('ON ALL TABLES'));
    const revoke = grants.findIndex((g) => g.startsWith('REVOKE'));
    expect(tableWide).toBeGreaterThanOrEqual(0);
    expect(revoke).toBeGreaterThan(tableWide);
  });

  it('quotes the role name as an identifier', () => {
    expect(quoteIdent('svc')).toBe('"svc"');
    expect(quoteIdent('a"; DROP TABLE x; --')).toBe('"a""; DROP TABLE x; --"');
  });
});
