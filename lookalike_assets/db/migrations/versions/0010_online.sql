-- Exports the API asks for (POST .../audience/{id}/export): the platform of each export job, and a read-only
-- view of pending export jobs for the sensor that starts their runs (lookalike_changes reads no tenant data: only
-- ids and the platform, as it reads the change log).
ALTER TABLE lookalike_api_job ADD COLUMN platform text CHECK (platform ~ '^[a-z_]{1,30}$');
ALTER TABLE lookalike_api_job ADD CONSTRAINT lookalike_api_job_export_platform
  CHECK ((kind = 'export') = (platform IS NOT NULL));
CREATE INDEX lookalike_api_job_recent_export_idx ON lookalike_api_job (created_at) WHERE kind = 'export';
COMMENT ON COLUMN lookalike_api_job.platform IS 'For an export job: the format asked for (meta, google, linkedin, crm).';

-- The sensor reads them through one definer function (ids and the platform of the last day's export jobs), so the
-- change reader still reads no tenant table.
CREATE OR REPLACE FUNCTION lookalike_pending_api_exports()
RETURNS TABLE (tenant_id uuid, job_id uuid, audience_id uuid, platform text, created_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $fn$
  SELECT j.tenant_id, j.job_id, j.audience_id, j.platform, j.created_at
  FROM public.lookalike_api_job j
  WHERE j.kind = 'export' AND j.created_at > now() - interval '1 day'
  ORDER BY j.created_at, j.job_id
$fn$;
REVOKE ALL ON FUNCTION lookalike_pending_api_exports() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION lookalike_pending_api_exports() TO lookalike_changes;

-- An approximate nearest-neighbour index (HNSW, cosine) per large tenant: a partial index on that tenant's rows,
-- so a search never leaves the tenant (every query has tenant_id = <the tenant>, which implies the index's
-- predicate) and small tenants keep the exact scan. Created by the pipeline once a tenant has p_min_rows vectors
-- (the pipeline is no owner of the table: this function is), dropped when it falls below half of that.
-- Returns what it did: created, exists, dropped or none.
CREATE OR REPLACE FUNCTION lookalike_tenant_ann_index(p_tenant uuid, p_min_rows integer) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public
SET maintenance_work_mem = '512MB' AS $fn$
DECLARE
  idx text := 'lead_embeddings_ann_' || replace(p_tenant::text, '-', '');
  n bigint;
  present boolean;
BEGIN
  IF p_tenant IS DISTINCT FROM lookalike_current_tenant() THEN
    RAISE EXCEPTION 'lookalike_tenant_ann_index: only for the current tenant' USING ERRCODE = '42501';
  END IF;
  SELECT count(*) INTO n FROM public.lead_embeddings WHERE tenant_id = p_tenant;
  present := to_regclass('public.' || idx) IS NOT NULL;
  IF n >= p_min_rows AND NOT present THEN
    EXECUTE format('CREATE INDEX %I ON public.lead_embeddings USING hnsw (embedding vector_cosine_ops) '
                   'WHERE tenant_id = %L', idx, p_tenant);
    EXECUTE 'ANALYZE public.lead_embeddings';
    RETURN 'created';
  ELSIF n < p_min_rows / 2 AND present THEN
    EXECUTE format('DROP INDEX public.%I', idx);
    RETURN 'dropped';
  END IF;
  RETURN CASE WHEN present THEN 'exists' ELSE 'none' END;
END
$fn$;
REVOKE ALL ON FUNCTION lookalike_tenant_ann_index(uuid, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION lookalike_tenant_ann_index(uuid, integer) TO lookalike_pipeline;
