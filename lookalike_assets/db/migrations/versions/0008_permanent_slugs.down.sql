DROP FUNCTION IF EXISTS lookalike_tenant_rows(regclass);
DROP TRIGGER IF EXISTS tenants_keep_slug ON tenants;
DROP FUNCTION IF EXISTS lookalike_keep_slug();
