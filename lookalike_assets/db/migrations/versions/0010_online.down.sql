DO $drop$
DECLARE i record;
BEGIN
  FOR i IN SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND indexname LIKE 'lead_embeddings_ann_%' LOOP
    EXECUTE format('DROP INDEX public.%I', i.indexname);
  END LOOP;
END
$drop$;
DROP FUNCTION IF EXISTS lookalike_tenant_ann_index(uuid, integer);
DROP FUNCTION IF EXISTS lookalike_pending_api_exports();
DROP INDEX IF EXISTS lookalike_api_job_recent_export_idx;
ALTER TABLE lookalike_api_job DROP CONSTRAINT IF EXISTS lookalike_api_job_export_platform;
ALTER TABLE lookalike_api_job DROP COLUMN IF EXISTS platform;
