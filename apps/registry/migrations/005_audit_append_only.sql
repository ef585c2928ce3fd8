-- The audit log refuses changes in the database itself, whatever the client: the rules of 001
-- turned UPDATE and DELETE into silent no-ops and let TRUNCATE through; these triggers fail them.
DROP RULE audit_log_no_update ON audit_log;
DROP RULE audit_log_no_delete ON audit_log;

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'registry.audit_log is append-only: % refused', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
-- Nobody but the owner (who runs the migrations) gets more than INSERT and SELECT. A deployment
-- that runs the service as a role other than the owner makes the triggers unremovable by it.
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC;

CREATE INDEX audit_log_subject_idx ON audit_log (subject, audit_id);
CREATE INDEX audit_log_action_idx ON audit_log (action, audit_id);
CREATE INDEX audit_log_at_idx ON audit_log (at);

-- Which import created each meter: the import's audit entry (subject = import id) covers it.
ALTER TABLE meters ADD COLUMN import_id uuid;
