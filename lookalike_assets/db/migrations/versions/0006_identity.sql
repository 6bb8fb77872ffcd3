-- Revision 0006: tenancy bound to who connects, composite foreign keys everywhere, and the erasure log.
--
-- Roles are cluster-wide and this file runs once per database (several databases may share a server): every
-- role statement here is idempotent.

-- 1. Groups hold privileges; logins are members. A session can read the query text of another session only when
--    it has the privileges of that session's login, so tenants' roles are members of groups, never of a login.
--    lookalike_service marks the platform's own logins: only they may choose a tenant with app.current_tenant.
DO $roles$
DECLARE r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['lookalike_app_access', 'lookalike_service'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      EXECUTE format('CREATE ROLE %I NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT', r);
    END IF;
  END LOOP;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lookalike_api') THEN
    CREATE ROLE lookalike_api LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE INHERIT;
  END IF;
  IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    EXECUTE format('GRANT lookalike_app_access, lookalike_service, lookalike_api TO %I', current_user);
  END IF;
END
$roles$;
-- The service logins use what their groups hold; lookalike_bi is a group now (tenants' BI logins are members).
ALTER ROLE lookalike_app INHERIT;
ALTER ROLE lookalike_pipeline INHERIT;
ALTER ROLE lookalike_changes INHERIT;
ALTER ROLE lookalike_bi NOLOGIN;
GRANT lookalike_app_access TO lookalike_app, lookalike_api;
GRANT lookalike_bi TO lookalike_pipeline;  -- the reports read the marts as lookalike_bi (SET LOCAL ROLE, a narrowing)
GRANT lookalike_service TO lookalike_app, lookalike_pipeline, lookalike_changes, lookalike_api;

-- What lookalike_app held in this database moves to its group (grants by revisions 0001-0005).
DO $move$
DECLARE g record;
BEGIN
  FOR g IN SELECT table_schema, table_name, privilege_type FROM information_schema.table_privileges
           WHERE grantee = 'lookalike_app' AND table_schema IN ('public', 'marts') LOOP
    EXECUTE format('GRANT %s ON %I.%I TO lookalike_app_access', g.privilege_type, g.table_schema, g.table_name);
    EXECUTE format('REVOKE %s ON %I.%I FROM lookalike_app', g.privilege_type, g.table_schema, g.table_name);
  END LOOP;
  FOR g IN SELECT table_name, column_name, privilege_type FROM information_schema.column_privileges
           WHERE grantee = 'lookalike_app' AND table_schema = 'public' LOOP
    EXECUTE format('GRANT %s (%I) ON public.%I TO lookalike_app_access', g.privilege_type, g.column_name, g.table_name);
    EXECUTE format('REVOKE %s (%I) ON public.%I FROM lookalike_app', g.privilege_type, g.column_name, g.table_name);
  END LOOP;
END
$move$;
GRANT USAGE ON SCHEMA public TO lookalike_app_access;
REVOKE USAGE ON SCHEMA public FROM lookalike_app;
-- Nobody but the owner creates objects in public (PostgreSQL 15+ already says so; older servers do not).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- 2. Which login belongs to which tenant: readable by the owner only (and by the tenant function below).
CREATE TABLE lookalike_tenant_role (
  role_name   name PRIMARY KEY,
  tenant_id   uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
  kind        text NOT NULL CHECK (kind IN ('bi', 'app')),
  name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  created_at  timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON lookalike_tenant_role FROM PUBLIC;
-- Like every table with a tenant_id (only the owner reads it, and the owner bypasses Row-Level Security).
SELECT lookalike_protect_table('lookalike_tenant_role');
COMMENT ON TABLE lookalike_tenant_role IS
  'Logins bound to one tenant (lookalike access grant). Such a login always sees exactly its tenant.';

-- 3. The one definition of "the current tenant", used by every policy (tables and marts alike):
--    * a login bound to a tenant: that tenant, whatever it sets or which role it switches to (session_user does
--      not change with SET ROLE);
--    * the platform's own service logins (members of lookalike_service): the transaction's app.current_tenant;
--    * anyone else: no tenant, so no rows.
--    Evaluated once per statement ((SELECT ...) in the policy): one index lookup on a small table.
CREATE OR REPLACE FUNCTION lookalike_current_tenant() RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $fn$
  SELECT CASE
    WHEN b.tenant_id IS NOT NULL THEN b.tenant_id
    WHEN pg_has_role(session_user, 'lookalike_service', 'MEMBER')
      THEN nullif(current_setting('app.current_tenant', true), '')::uuid
  END
  FROM (SELECT (SELECT r.tenant_id FROM public.lookalike_tenant_role r WHERE r.role_name = session_user)
        AS tenant_id) AS b
$fn$;
COMMENT ON FUNCTION lookalike_current_tenant() IS
  'The tenant of the current session: its login''s tenant for a bound login; app.current_tenant for lookalike''s '
  'own service logins; NULL (no rows) for anyone else.';
REVOKE ALL ON FUNCTION lookalike_current_tenant() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION lookalike_current_tenant()
  TO lookalike_app_access, lookalike_app, lookalike_pipeline, lookalike_bi, lookalike_changes, lookalike_api;

-- 4. Composite foreign keys for every reference between tenant tables: a row can only point at its own
--    tenant's rows, even when written by the owner (foreign-key checks bypass Row-Level Security).
ALTER TABLE lookalike_conversion
  ADD CONSTRAINT lookalike_conversion_audience_fk FOREIGN KEY (tenant_id, audience_id)
  REFERENCES lookalike_audience (tenant_id, audience_id) ON DELETE SET NULL (audience_id);
ALTER TABLE lookalike_conversion_fact
  ADD CONSTRAINT lookalike_conversion_fact_audience_fk FOREIGN KEY (tenant_id, audience_id)
  REFERENCES lookalike_audience (tenant_id, audience_id) ON DELETE CASCADE,
  ADD CONSTRAINT lookalike_conversion_fact_lead_fk FOREIGN KEY (tenant_id, lead_id)
  REFERENCES leads (tenant_id, lead_id) ON DELETE CASCADE;
CREATE INDEX lookalike_conversion_audience_idx ON lookalike_conversion (tenant_id, audience_id)
  WHERE audience_id IS NOT NULL;
CREATE INDEX lookalike_conversion_fact_lead_idx ON lookalike_conversion_fact (tenant_id, lead_id);
CREATE INDEX lookalike_conversion_fact_audience_idx ON lookalike_conversion_fact (tenant_id, audience_id);

-- 5. Erasure ("right to be forgotten"): one audit row per request, counts only, never who.
CREATE TABLE lookalike_erasure (
  tenant_id     uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
  erasure_id    uuid NOT NULL DEFAULT gen_random_uuid(),
  requested_at  timestamptz NOT NULL DEFAULT now(),
  leads         integer NOT NULL CHECK (leads >= 0),
  counts        jsonb NOT NULL DEFAULT '{}'::jsonb,
  actor         text NOT NULL DEFAULT session_user,
  PRIMARY KEY (tenant_id, erasure_id)
);
SELECT lookalike_protect_table('lookalike_erasure');
GRANT SELECT, INSERT ON lookalike_erasure TO lookalike_app_access, lookalike_pipeline;
GRANT DELETE ON lookalike_conversion_quarantine TO lookalike_app_access, lookalike_pipeline;

-- 6. Fresh planner statistics after bulk writes: ANALYZE needs the owner, so the service logins call this.
CREATE OR REPLACE FUNCTION lookalike_analyze(tbl text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
BEGIN
  IF tbl NOT IN ('leads', 'lead_features', 'lead_embeddings', 'lookalike_candidate') THEN
    RAISE EXCEPTION 'not a table lookalike analyzes: %', tbl;
  END IF;
  EXECUTE format('ANALYZE %I', tbl);
END
$fn$;
REVOKE ALL ON FUNCTION lookalike_analyze(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION lookalike_analyze(text) TO lookalike_pipeline, lookalike_app_access;
