-- 1. LOCK TABLE in any mode that blocks readers or writers of other tenants (SHARE and stronger) needs UPDATE,
--    DELETE or TRUNCATE on the table itself; column privileges do not count. Tenants' app logins (members of
--    lookalike_app_access) keep what they may do through column-level UPDATE (soft deletes: a seed's deleted_at,
--    an audience's status) and lose table-level UPDATE and DELETE, which the platform's own logins keep through
--    lookalike_app_write.
DO $roles$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lookalike_app_write') THEN
    CREATE ROLE lookalike_app_write NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
  END IF;
END
$roles$;
GRANT lookalike_app_write TO lookalike_app, lookalike_api;

DO $split$
DECLARE t record; cols text;
BEGIN
  FOR t IN SELECT DISTINCT table_schema, table_name, privilege_type FROM information_schema.table_privileges
           WHERE grantee = 'lookalike_app_access' AND table_schema IN ('public', 'marts')
             AND privilege_type IN ('UPDATE', 'DELETE', 'TRUNCATE') LOOP
    EXECUTE format('GRANT %s ON %I.%I TO lookalike_app_write', t.privilege_type, t.table_schema, t.table_name);
    EXECUTE format('REVOKE %s ON %I.%I FROM lookalike_app_access', t.privilege_type, t.table_schema, t.table_name);
    IF t.privilege_type = 'UPDATE' THEN
      SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position) INTO cols
      FROM information_schema.columns
      WHERE table_schema = t.table_schema AND table_name = t.table_name AND column_name <> 'tenant_id';
      EXECUTE format('GRANT UPDATE (%s) ON %I.%I TO lookalike_app_access', cols, t.table_schema, t.table_name);
    END IF;
  END LOOP;
END
$split$;

-- 2. The platform's logins may use the connections reserved by reserved_connections (PostgreSQL 16), so tenants'
--    logins filling the server never lock the platform out. Granting it needs a superuser (the embedded server's
--    owner is one); elsewhere the administrator grants it once, as README says.
DO $reserved$
BEGIN
  IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
     AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pg_use_reserved_connections') THEN
    GRANT pg_use_reserved_connections TO lookalike_service;
  END IF;
END
$reserved$;
