-- The online API: keys bound to one tenant, and the jobs it starts.

-- 1. API keys. Only a hash is stored (SHA-256 of a 256-bit random key: a slow hash adds nothing at that entropy).
--    Owner-only, like the tenants' logins: the API's login resolves a key through one definer function.
CREATE TABLE lookalike_api_key (
  key_id        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id     uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
  name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  key_hash      text NOT NULL UNIQUE CHECK (key_hash ~ '^[0-9a-f]{64}$'),
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_used_at  timestamptz,
  revoked_at    timestamptz
);
CREATE INDEX lookalike_api_key_tenant_idx ON lookalike_api_key (tenant_id);
REVOKE ALL ON lookalike_api_key FROM PUBLIC;
SELECT lookalike_protect_table('lookalike_api_key');
COMMENT ON TABLE lookalike_api_key IS
  'API keys bound to one tenant (lookalike access grant --kind api): the SHA-256 of the key, never the key.';

-- The tenant of a live key (NULL for an unknown or revoked one); records when it was last used (at most once a
-- minute per key, so a busy key does not write on every request).
CREATE OR REPLACE FUNCTION lookalike_api_key_tenant(p_hash text) RETURNS uuid
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $fn$
  WITH k AS (
    SELECT key_id, tenant_id, last_used_at FROM public.lookalike_api_key
    WHERE key_hash = p_hash AND revoked_at IS NULL
  ), touched AS (
    UPDATE public.lookalike_api_key a SET last_used_at = now() FROM k
    WHERE a.key_id = k.key_id AND (k.last_used_at IS NULL OR k.last_used_at < now() - interval '1 minute')
  )
  SELECT tenant_id FROM k
$fn$;
REVOKE ALL ON FUNCTION lookalike_api_key_tenant(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION lookalike_api_key_tenant(text) TO lookalike_api;

-- 2. Jobs the API started (an audience to build, an export): a UI polls them; their runs are Dagster's.
CREATE TABLE lookalike_api_job (
  tenant_id     uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
  job_id        uuid NOT NULL DEFAULT gen_random_uuid(),
  kind          text NOT NULL CHECK (kind IN ('audience', 'export')),
  audience_id   uuid,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, job_id),
  FOREIGN KEY (tenant_id, audience_id) REFERENCES lookalike_audience (tenant_id, audience_id) ON DELETE CASCADE
);
CREATE INDEX lookalike_api_job_audience_idx ON lookalike_api_job (tenant_id, audience_id);
SELECT lookalike_protect_table('lookalike_api_job');
GRANT SELECT, INSERT ON lookalike_api_job TO lookalike_app_access;
GRANT SELECT ON lookalike_api_job TO lookalike_pipeline;
