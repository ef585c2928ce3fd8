-- The audit log refuses changes in the database itself, whatever the client: the rules of 001
-- turned UPDATE and DELETE into silent no-ops and let TRUNCATE through; these triggers fail them.
DROP RULE audit_log_no_update ON audit_log;
DROP RULE audit_log_no_delete ON audit_log;

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'orchestrator.audit_log is append-only: % refused', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- The orchestrator migrates as its own role (CURRENT_USER here), so that role owns the table: it
-- gives up every right on it but reading and appending, and so does everyone else. An owner can
-- grant itself these rights back or drop the triggers; only a separate schema owner (as the
-- registry's DATABASE_OWNER_URL) would take that away.
REVOKE UPDATE, DELETE, TRUNCATE, TRIGGER, REFERENCES ON audit_log FROM PUBLIC, CURRENT_USER;
