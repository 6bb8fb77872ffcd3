-- Revision 0016: lookalike_analyze covers the tables lookalike writes in bulk (the pool stage and the champion's
-- scores too: a large tenant's pool step failed on every refresh), and only the platform's own logins may call
-- it (tenants' bound logins, members of lookalike_app_access, could analyze every tenant's rows). The application
-- may add the files' part to an erasure's audit row.
CREATE OR REPLACE FUNCTION lookalike_analyze(tbl text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
BEGIN
  IF tbl NOT IN ('leads', 'lead_features', 'lead_embeddings', 'lookalike_candidate', 'lookalike_pool_stage',
                 'lookalike_lead_score') THEN
    RAISE EXCEPTION 'not a table lookalike analyzes: %', tbl;
  END IF;
  EXECUTE format('ANALYZE %I', tbl);
END
$fn$;
REVOKE ALL ON FUNCTION lookalike_analyze(text) FROM PUBLIC, lookalike_app_access, lookalike_pipeline;
GRANT EXECUTE ON FUNCTION lookalike_analyze(text) TO lookalike_service;

-- Erasure rewrites the rows of the erased people in the tenant's files after the database transaction, and adds
-- what it rewrote (counts only) to the audit row: the application's service login, not tenants' logins.
GRANT UPDATE (counts) ON lookalike_erasure TO lookalike_app;
