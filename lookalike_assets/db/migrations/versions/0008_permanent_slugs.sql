-- Revision 0008: a tenant's slug is its permanent handle (Dagster's partition key, export folders, logins); its
-- display name can change, its slug cannot.
CREATE OR REPLACE FUNCTION lookalike_keep_slug() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp AS $fn$
BEGIN
  IF NEW.slug IS DISTINCT FROM OLD.slug THEN
    RAISE EXCEPTION 'a tenant''s slug is permanent (% cannot become %): it names the tenant''s partition, '
      'export folders and logins; change its name instead', OLD.slug, NEW.slug
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END
$fn$;
CREATE TRIGGER tenants_keep_slug BEFORE UPDATE OF slug ON tenants
  FOR EACH ROW EXECUTE FUNCTION lookalike_keep_slug();

-- Rows of one table that the current tenant sees (Row-Level Security applies: SECURITY INVOKER), for the row
-- counts Dagster shows on each asset.
CREATE OR REPLACE FUNCTION lookalike_tenant_rows(tbl regclass) RETURNS bigint
LANGUAGE plpgsql STABLE SECURITY INVOKER SET search_path = public, pg_temp AS $fn$
DECLARE n bigint;
BEGIN
  EXECUTE format('SELECT count(*) FROM %s', tbl) INTO n;
  RETURN n;
END
$fn$;
REVOKE ALL ON FUNCTION lookalike_tenant_rows(regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION lookalike_tenant_rows(regclass) TO lookalike_pipeline, lookalike_app_access;
