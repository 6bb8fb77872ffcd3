DO $drop$
DECLARE i record;
BEGIN
  FOR i IN SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND indexname LIKE 'lead_embeddings_ann_%' LOOP
    EXECUTE format('DROP INDEX public.%I', i.indexname);
  END LOOP;
END
$drop$;
DROP FUNCTION IF EXISTS lookalike_tenant_ann_index(uuid, integer);
REVOKE SELECT (tenant_id, job_id, kind, audience_id, platform, created_at) ON lookalike_api_job FROM lookalike_changes;
DROP POLICY IF EXISTS change_reader ON lookalike_api_job;
DROP INDEX IF EXISTS lookalike_api_job_recent_export_idx;
ALTER TABLE lookalike_api_job DROP CONSTRAINT IF EXISTS lookalike_api_job_export_platform;
ALTER TABLE lookalike_api_job DROP COLUMN IF EXISTS platform;
