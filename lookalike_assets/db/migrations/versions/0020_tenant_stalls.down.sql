DO $split$
DECLARE t record;
BEGIN
  FOR t IN SELECT DISTINCT table_schema, table_name, privilege_type FROM information_schema.table_privileges
           WHERE grantee = 'lookalike_app_write' AND table_schema IN ('public', 'marts') LOOP
    EXECUTE format('GRANT %s ON %I.%I TO lookalike_app_access', t.privilege_type, t.table_schema, t.table_name);
    EXECUTE format('REVOKE %s ON %I.%I FROM lookalike_app_write', t.privilege_type, t.table_schema, t.table_name);
  END LOOP;
END
$split$;
