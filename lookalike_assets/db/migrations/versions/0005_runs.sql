-- Revision 0005: who wrote each change, what each run has already covered, and one run per tenant at a time.

-- 1. The change log records the role that wrote (the role set for the transaction, else the login). Sensors
--    ignore the pipeline's own writes (an audience's size, status, metadata), so a refresh never triggers
--    another one.
ALTER TABLE lookalike_change_log ADD COLUMN actor text NOT NULL DEFAULT 'unknown';
CREATE INDEX lookalike_change_log_tenant_idx ON lookalike_change_log (tenant_id, entity, xid);

CREATE OR REPLACE FUNCTION lookalike_actor() RETURNS text
LANGUAGE sql STABLE AS $fn$
  SELECT CASE WHEN current_setting('role') <> 'none' THEN current_setting('role') ELSE session_user::text END
$fn$;
COMMENT ON FUNCTION lookalike_actor() IS
  'The role that writes: the role set for the transaction (SET LOCAL ROLE), else the login. Not changed by SECURITY DEFINER.';

CREATE OR REPLACE FUNCTION lookalike_log_changes() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
DECLARE entity text := TG_ARGV[0];
BEGIN
  IF TG_OP = 'DELETE' THEN
    INSERT INTO lookalike_change_log (tenant_id, entity, op, row_count, actor)
    SELECT tenant_id, entity, TG_OP, count(*), lookalike_actor() FROM old_rows GROUP BY tenant_id;
  ELSE
    INSERT INTO lookalike_change_log (tenant_id, entity, op, row_count, actor)
    SELECT tenant_id, entity, TG_OP, count(*), lookalike_actor() FROM new_rows GROUP BY tenant_id;
  END IF;
  RETURN NULL;
END
$fn$;

CREATE OR REPLACE FUNCTION lookalike_log_conversion_changes() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
BEGIN
  IF TG_OP = 'DELETE' THEN
    INSERT INTO lookalike_change_log (tenant_id, entity, op, row_count, event_day, actor)
    SELECT tenant_id, 'conversion', TG_OP, count(*), (occurred_at AT TIME ZONE 'UTC')::date, lookalike_actor()
    FROM old_rows GROUP BY tenant_id, (occurred_at AT TIME ZONE 'UTC')::date;
  ELSE
    INSERT INTO lookalike_change_log (tenant_id, entity, op, row_count, event_day, actor)
    SELECT tenant_id, 'conversion', TG_OP, count(*), (occurred_at AT TIME ZONE 'UTC')::date, lookalike_actor()
    FROM new_rows GROUP BY tenant_id, (occurred_at AT TIME ZONE 'UTC')::date;
  END IF;
  RETURN NULL;
END
$fn$;

-- 2. Watermarks: the change-log horizon a finished piece of work started from. Every change below it was
--    committed before that work read anything, so it is covered; sensors only ask for work on changes at or
--    above it. kind 'refresh': a whole tenant refresh; 'ranking': the last training of the tenant's ranker.
CREATE TABLE lookalike_watermark (
  tenant_id   uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
  kind        text NOT NULL CHECK (kind IN ('refresh', 'ranking')),
  horizon     xid8 NOT NULL,
  run_id      text,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, kind)
);
SELECT lookalike_protect_table('lookalike_watermark');
CREATE POLICY change_reader ON lookalike_watermark FOR SELECT TO lookalike_changes USING (true);
GRANT SELECT, INSERT, UPDATE ON lookalike_watermark TO lookalike_pipeline;
GRANT SELECT ON lookalike_watermark TO lookalike_changes;

-- The same per day of conversion events (conversion_facts is partitioned by day, across tenants). Dates only.
CREATE TABLE lookalike_day_watermark (
  event_day   date PRIMARY KEY,
  horizon     xid8 NOT NULL,
  run_id      text,
  updated_at  timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT, INSERT, UPDATE ON lookalike_day_watermark TO lookalike_pipeline;
GRANT SELECT ON lookalike_day_watermark TO lookalike_changes;

-- 3. One run per tenant at a time, for the whole run (not per step): a lease held by a run id, refreshed by a
--    heartbeat while a step works, given up when the run ends (or fails), and free again when its heartbeat
--    stopped (a killed process). Under Row-Level Security: no other role can see or take it.
CREATE TABLE lookalike_tenant_lease (
  tenant_id     uuid PRIMARY KEY REFERENCES tenants (tenant_id) ON DELETE CASCADE,
  run_id        text NOT NULL,
  horizon       xid8 NOT NULL,
  acquired_at   timestamptz NOT NULL DEFAULT now(),
  heartbeat_at  timestamptz NOT NULL DEFAULT now()
);
SELECT lookalike_protect_table('lookalike_tenant_lease');
GRANT SELECT, INSERT, UPDATE, DELETE ON lookalike_tenant_lease TO lookalike_pipeline;

-- 4. Deleting a tenant is a change too: the sensor removes its partition.
CREATE TRIGGER tenants_log_del AFTER DELETE ON tenants REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION lookalike_log_changes('tenant');

-- 5. Tenant ids, slugs and names (no tenant data) for the platform's own roles: sensors and schedules name runs
--    by slug, and the change reader may read nothing else.
CREATE OR REPLACE FUNCTION lookalike_tenant_directory() RETURNS TABLE (tenant_id uuid, slug text, name text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
  SELECT t.tenant_id, t.slug, t.name FROM tenants t ORDER BY t.slug
$fn$;
REVOKE ALL ON FUNCTION lookalike_tenant_directory() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION lookalike_tenant_directory() TO lookalike_changes, lookalike_pipeline;
