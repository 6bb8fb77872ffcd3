CREATE OR REPLACE FUNCTION lookalike_analyze(tbl text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
BEGIN
  IF tbl NOT IN ('leads', 'lead_features', 'lead_embeddings', 'lookalike_candidate') THEN
    RAISE EXCEPTION 'not a table lookalike analyzes: %', tbl;
  END IF;
  EXECUTE format('ANALYZE %I', tbl);
END
$fn$;
REVOKE ALL ON FUNCTION lookalike_analyze(text) FROM lookalike_service;
GRANT EXECUTE ON FUNCTION lookalike_analyze(text) TO lookalike_pipeline, lookalike_app_access;
REVOKE UPDATE (counts) ON lookalike_erasure FROM lookalike_app;
