DROP FUNCTION IF EXISTS lookalike_tenant_directory();
DROP TRIGGER IF EXISTS tenants_log_del ON tenants;
DROP TABLE IF EXISTS lookalike_tenant_lease, lookalike_day_watermark, lookalike_watermark;
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
CREATE OR REPLACE FUNCTION lookalike_log_conversion_changes() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
BEGIN
  IF TG_OP = 'DELETE' THEN
    INSERT INTO lookalike_change_log (tenant_id, entity, op, row_count, event_day)
    SELECT tenant_id, 'conversion', TG_OP, count(*), (occurred_at AT TIME ZONE 'UTC')::date
    FROM old_rows GROUP BY tenant_id, (occurred_at AT TIME ZONE 'UTC')::date;
  ELSE
    INSERT INTO lookalike_change_log (tenant_id, entity, op, row_count, event_day)
    SELECT tenant_id, 'conversion', TG_OP, count(*), (occurred_at AT TIME ZONE 'UTC')::date
    FROM new_rows GROUP BY tenant_id, (occurred_at AT TIME ZONE 'UTC')::date;
  END IF;
  RETURN NULL;
END
$fn$;
DROP FUNCTION IF EXISTS lookalike_actor();
DROP INDEX IF EXISTS lookalike_change_log_tenant_idx;
ALTER TABLE lookalike_change_log DROP COLUMN IF EXISTS actor;
