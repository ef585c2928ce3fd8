-- Each import's report, kept for GET /v1/imports and /v1/imports/{id}: who, when, how it ended,
-- the counts and the line errors (at most 10,000 kept; `rejected` stays exact).
ALTER TABLE imports ADD COLUMN status text NOT NULL DEFAULT 'running'
  CHECK (status IN ('running', 'completed', 'failed'));
ALTER TABLE imports ADD COLUMN actor text NOT NULL DEFAULT 'unknown';
ALTER TABLE imports ADD COLUMN failure text;
-- Counts a catalogue import reports (carriers, regions).
ALTER TABLE imports ADD COLUMN detail jsonb NOT NULL DEFAULT '{}';
-- Progress of a running import; one that stopped moving was interrupted (a crash or restart).
ALTER TABLE imports ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
UPDATE imports SET status = CASE WHEN finished_at IS NULL THEN 'failed' ELSE 'completed' END,
                   failure = CASE WHEN finished_at IS NULL THEN 'interrupted' END;
CREATE INDEX imports_started_idx ON imports (started_at DESC, import_id);
