-- Revision 0002: the change log that sensors read, and the log of audience exports.

-- The change log: which tenant's seeds, audiences or leads changed, in order. No lead data: only the tenant,
-- the table, the operation and how many rows one statement touched.
CREATE TABLE lookalike_change_log (
  seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id   uuid NOT NULL,
  entity      text NOT NULL CHECK (entity IN ('tenant', 'lead', 'seed', 'audience', 'suppression', 'conversion')),
  op          text NOT NULL CHECK (op IN ('INSERT', 'UPDATE', 'DELETE')),
  row_count   integer NOT NULL CHECK (row_count > 0),
  changed_at  timestamptz NOT NULL DEFAULT now(),
  -- The writing transaction. Readers take everything below the oldest running transaction
  -- (pg_snapshot_xmin): unlike a sequence, that boundary never skips a row committed out of order.
  xid         xid8 NOT NULL DEFAULT pg_current_xact_id()
);
CREATE INDEX lookalike_change_log_xid_idx ON lookalike_change_log (xid);

-- The only role that reads it; it can read nothing else.
DO $roles$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lookalike_changes') THEN
    CREATE ROLE lookalike_changes LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
  END IF;
  IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    EXECUTE format('GRANT lookalike_changes TO %I', current_user);
  END IF;
END
$roles$;

SELECT lookalike_protect_table('lookalike_change_log');
-- The change reader sees every tenant's entries (tenant id, entity, counts): that is its whole job.
CREATE POLICY change_reader ON lookalike_change_log FOR SELECT TO lookalike_changes USING (true);
GRANT USAGE ON SCHEMA public TO lookalike_changes;
GRANT SELECT ON lookalike_change_log TO lookalike_changes;

-- Statement-level triggers with transition tables: one log row per tenant per statement, however many rows.
-- SECURITY DEFINER so that writers need no privilege on the log itself.
CREATE OR REPLACE FUNCTION lookalike_log_changes() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
DECLARE entity text := TG_ARGV[0];
BEGIN
  IF TG_OP = 'DELETE' THEN
    INSERT INTO lookalike_change_log (tenant_id, entity, op, row_count)
    SELECT tenant_id, entity, TG_OP, count(*) FROM old_rows GROUP BY tenant_id;
  ELSE
    INSERT INTO lookalike_change_log (tenant_id, entity, op, row_count)
    SELECT tenant_id, entity, TG_OP, count(*) FROM new_rows GROUP BY tenant_id;
  END IF;
  RETURN NULL;
END
$fn$;
REVOKE ALL ON FUNCTION lookalike_log_changes() FROM PUBLIC;

DO $triggers$
DECLARE t record;
BEGIN
  FOR t IN SELECT * FROM (VALUES
      ('tenants', 'tenant', false), ('leads', 'lead', true), ('lookalike_seed', 'seed', true),
      ('lookalike_audience', 'audience', true), ('suppression_list', 'suppression', true),
      ('lookalike_conversion', 'conversion', true)) AS v(tbl, entity, all_ops)
  LOOP
    EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %I REFERENCING NEW TABLE AS new_rows '
                   'FOR EACH STATEMENT EXECUTE FUNCTION lookalike_log_changes(%L)', t.tbl || '_log_ins', t.tbl, t.entity);
    IF t.all_ops THEN
      EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %I REFERENCING NEW TABLE AS new_rows '
                     'FOR EACH STATEMENT EXECUTE FUNCTION lookalike_log_changes(%L)', t.tbl || '_log_upd', t.tbl, t.entity);
      EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON %I REFERENCING OLD TABLE AS old_rows '
                     'FOR EACH STATEMENT EXECUTE FUNCTION lookalike_log_changes(%L)', t.tbl || '_log_del', t.tbl, t.entity);
    END IF;
  END LOOP;
END
$triggers$;

-- Every export of an audience to a destination: what was written where, how many tries, what failed.
CREATE TABLE lookalike_export_job (
  tenant_id       uuid NOT NULL,
  export_job_id   uuid NOT NULL DEFAULT gen_random_uuid(),
  audience_id     uuid NOT NULL,
  destination     text NOT NULL,
  format          text NOT NULL,
  status          text NOT NULL DEFAULT 'running'
                  CHECK (status IN ('running', 'succeeded', 'failed', 'skipped')),
  attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  file            text,
  row_count       integer CHECK (row_count >= 0),
  content_sha256  text,
  error           text,
  run_id          text,
  started_at      timestamptz NOT NULL DEFAULT now(),
  finished_at     timestamptz,
  PRIMARY KEY (tenant_id, export_job_id),
  FOREIGN KEY (tenant_id, audience_id) REFERENCES lookalike_audience (tenant_id, audience_id) ON DELETE CASCADE
);
CREATE INDEX lookalike_export_job_audience_idx ON lookalike_export_job (tenant_id, audience_id, started_at DESC);
SELECT lookalike_protect_table('lookalike_export_job');
GRANT SELECT, INSERT, UPDATE ON lookalike_export_job TO lookalike_pipeline;
GRANT SELECT ON lookalike_export_job TO lookalike_app;

-- Applications add and retire audiences' members through the pipeline only; the CLI (as lookalike_app)
-- publishes and retires audiences and manages seeds and suppression.
GRANT SELECT ON lookalike_audience_member TO lookalike_app;
