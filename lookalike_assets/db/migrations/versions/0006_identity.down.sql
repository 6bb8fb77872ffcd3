-- Reverts 0006 in this database. Roles are cluster-wide and may serve other databases: they are kept.
DROP FUNCTION IF EXISTS lookalike_analyze(text);
DROP TABLE IF EXISTS lookalike_erasure;
REVOKE DELETE ON lookalike_conversion_quarantine FROM lookalike_app_access, lookalike_pipeline;
DROP INDEX IF EXISTS lookalike_conversion_audience_idx, lookalike_conversion_fact_lead_idx,
  lookalike_conversion_fact_audience_idx;
ALTER TABLE lookalike_conversion DROP CONSTRAINT IF EXISTS lookalike_conversion_audience_fk;
ALTER TABLE lookalike_conversion_fact DROP CONSTRAINT IF EXISTS lookalike_conversion_fact_audience_fk,
  DROP CONSTRAINT IF EXISTS lookalike_conversion_fact_lead_fk;
CREATE OR REPLACE FUNCTION lookalike_current_tenant() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE
AS $fn$ SELECT nullif(current_setting('app.current_tenant', true), '')::uuid $fn$;
GRANT EXECUTE ON FUNCTION lookalike_current_tenant() TO PUBLIC;
DROP TABLE IF EXISTS lookalike_tenant_role;
DO $move$
DECLARE g record;
BEGIN
  FOR g IN SELECT table_schema, table_name, privilege_type FROM information_schema.table_privileges
           WHERE grantee = 'lookalike_app_access' AND table_schema IN ('public', 'marts') LOOP
    EXECUTE format('GRANT %s ON %I.%I TO lookalike_app', g.privilege_type, g.table_schema, g.table_name);
  END LOOP;
  FOR g IN SELECT table_name, column_name, privilege_type FROM information_schema.column_privileges
           WHERE grantee = 'lookalike_app_access' AND table_schema = 'public' LOOP
    EXECUTE format('GRANT %s (%I) ON public.%I TO lookalike_app', g.privilege_type, g.column_name, g.table_name);
  END LOOP;
END
$move$;
GRANT USAGE ON SCHEMA public TO lookalike_app;
