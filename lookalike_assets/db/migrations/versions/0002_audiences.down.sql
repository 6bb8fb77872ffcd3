DROP TABLE IF EXISTS lookalike_export_job;
DO $t$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['tenants', 'leads', 'lookalike_seed', 'lookalike_audience', 'suppression_list', 'lookalike_conversion'] LOOP
    EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I', t || '_log_ins', t);
    EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I', t || '_log_upd', t);
    EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I', t || '_log_del', t);
  END LOOP;
END
$t$;
DROP FUNCTION IF EXISTS lookalike_log_changes();
DROP TABLE IF EXISTS lookalike_change_log;
