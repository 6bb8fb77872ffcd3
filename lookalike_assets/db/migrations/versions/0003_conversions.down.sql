DROP TRIGGER IF EXISTS lookalike_conversion_log_ins ON lookalike_conversion;
DROP TRIGGER IF EXISTS lookalike_conversion_log_upd ON lookalike_conversion;
DROP TRIGGER IF EXISTS lookalike_conversion_log_del ON lookalike_conversion;
CREATE TRIGGER lookalike_conversion_log_ins AFTER INSERT ON lookalike_conversion REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION lookalike_log_changes('conversion');
CREATE TRIGGER lookalike_conversion_log_upd AFTER UPDATE ON lookalike_conversion REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION lookalike_log_changes('conversion');
CREATE TRIGGER lookalike_conversion_log_del AFTER DELETE ON lookalike_conversion REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION lookalike_log_changes('conversion');
DROP FUNCTION IF EXISTS lookalike_log_conversion_changes();
ALTER TABLE lookalike_change_log DROP COLUMN IF EXISTS event_day;
DROP TABLE IF EXISTS lookalike_conversion_fact;
DROP TABLE IF EXISTS lookalike_conversion_quarantine;
DROP INDEX IF EXISTS lookalike_conversion_tenant_lead_idx;
ALTER TABLE lookalike_conversion DROP COLUMN IF EXISTS source;
