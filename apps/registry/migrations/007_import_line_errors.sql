-- Every line error of every import (provisioning.md: each invalid line is reported with its
-- number and reason), written as the import goes; the report in `imports.errors` keeps only
-- the first ones inline, and GET /v1/imports/{id}/errors pages through all of them.
CREATE TABLE import_line_errors (
  import_id uuid NOT NULL REFERENCES imports (import_id),
  line      integer NOT NULL CHECK (line > 0),
  reason    text NOT NULL,
  PRIMARY KEY (import_id, line)
);
