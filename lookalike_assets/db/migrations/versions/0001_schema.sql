-- lookalike schema, revision 0001.
-- Every table carries tenant_id uuid NOT NULL; every key that points at a lead, audience or candidate is a
-- composite (tenant_id, ...) key, because foreign-key checks bypass Row-Level Security: a row of tenant A
-- can only ever reference a row of tenant A. Primary keys lead with tenant_id, which is also what a
-- distributed PostgreSQL (Citus) needs to distribute by tenant.

CREATE EXTENSION IF NOT EXISTS vector;

-- Roles. None is superuser, none has BYPASSRLS, none owns a table (the migrating user owns them).
DO $roles$
DECLARE r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['lookalike_app', 'lookalike_pipeline', 'lookalike_bi'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT', r);
    END IF;
  END LOOP;
  -- The owner switches to these roles per transaction (SET LOCAL ROLE); a non-superuser owner needs
  -- membership for that.
  IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    EXECUTE format('GRANT lookalike_app, lookalike_pipeline, lookalike_bi TO %I', current_user);
  END IF;
END
$roles$;

CREATE OR REPLACE FUNCTION lookalike_current_tenant() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE
AS $fn$ SELECT nullif(current_setting('app.current_tenant', true), '')::uuid $fn$;
COMMENT ON FUNCTION lookalike_current_tenant() IS
  'The tenant of the current transaction (set_config(''app.current_tenant'', id, true)); NULL when none.';

-- The one definition of tenant isolation, for every tenant table (here, in later migrations, and on the dbt
-- marts after each build): Row-Level Security enabled and forced, one policy with USING and WITH CHECK.
CREATE OR REPLACE FUNCTION lookalike_protect_table(tbl regclass) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
  EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
  EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
  EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON %s', tbl);
  EXECUTE format('CREATE POLICY tenant_isolation ON %s USING (tenant_id = (SELECT lookalike_current_tenant())) '
                 'WITH CHECK (tenant_id = (SELECT lookalike_current_tenant()))', tbl);
END
$fn$;
REVOKE ALL ON FUNCTION lookalike_protect_table(regclass) FROM PUBLIC;

CREATE OR REPLACE FUNCTION lookalike_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END
$fn$;

CREATE TABLE tenants (
  tenant_id   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
  name        text NOT NULL,
  settings    jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE leads (
  tenant_id         uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
  lead_id           uuid NOT NULL DEFAULT gen_random_uuid(),
  external_id       text NOT NULL,
  email             text,
  phone             text,
  first_name        text,
  last_name         text,
  company           text,
  industry          text,
  company_size      integer CHECK (company_size >= 0),
  country           text,
  region            text,
  title             text,
  seniority         text,
  bio               text,
  property_type     text,
  email_opens       integer CHECK (email_opens >= 0),
  web_visits        integer CHECK (web_visits >= 0),
  last_activity_at  timestamptz,
  attributes        jsonb NOT NULL DEFAULT '{}'::jsonb,
  is_seed           boolean NOT NULL DEFAULT false,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, lead_id),
  UNIQUE (tenant_id, external_id)
);
COMMENT ON COLUMN leads.attributes IS 'Imported columns without a dedicated column, by name.';
COMMENT ON COLUMN leads.is_seed IS 'Maintained by a trigger: the lead has a live (not deleted) seed.';

CREATE TABLE tenant_feature_spec (
  tenant_id   uuid PRIMARY KEY REFERENCES tenants (tenant_id) ON DELETE CASCADE,
  spec        jsonb NOT NULL,
  version     text NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE tenant_feature_spec IS 'Which lead columns feed which block of the vector (see domain/features.py).';

CREATE TABLE lead_features (
  tenant_id        uuid NOT NULL,
  lead_id          uuid NOT NULL,
  features         jsonb NOT NULL,
  text_blob        text NOT NULL,
  content_hash     text NOT NULL,
  feature_version  text NOT NULL,
  computed_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, lead_id),
  FOREIGN KEY (tenant_id, lead_id) REFERENCES leads (tenant_id, lead_id) ON DELETE CASCADE
);

CREATE TABLE lead_embeddings (
  tenant_id      uuid NOT NULL,
  lead_id        uuid NOT NULL,
  embedding      vector(512) NOT NULL CHECK (abs(vector_norm(embedding) - 1) < 1e-3),
  content_hash   text NOT NULL,
  model_version  text NOT NULL,
  computed_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, lead_id),
  FOREIGN KEY (tenant_id, lead_id) REFERENCES leads (tenant_id, lead_id) ON DELETE CASCADE
);
COMMENT ON COLUMN lead_embeddings.embedding IS
  'Unit vector: 384 dims of text embedding then 8 tabular blocks of 16 dims, each block scaled by sqrt(weight).';

CREATE TABLE lookalike_seed (
  tenant_id   uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
  seed_id     uuid NOT NULL DEFAULT gen_random_uuid(),
  lead_id     uuid NOT NULL,
  label       text NOT NULL DEFAULT 'manual'
              CHECK (label IN ('won', 'meeting', 'replied', 'scored', 'manual')),
  weight      real CHECK (weight > 0 AND weight <= 100),
  source      text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  deleted_at  timestamptz,
  PRIMARY KEY (tenant_id, seed_id),
  FOREIGN KEY (tenant_id, lead_id) REFERENCES leads (tenant_id, lead_id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX lookalike_seed_live_uq ON lookalike_seed (tenant_id, lead_id, label) WHERE deleted_at IS NULL;
COMMENT ON COLUMN lookalike_seed.weight IS 'NULL: the label''s default weight (won > meeting > replied > scored).';

CREATE TABLE lookalike_audience (
  tenant_id      uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
  audience_id    uuid NOT NULL DEFAULT gen_random_uuid(),
  name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  description    text,
  seed_set       jsonb NOT NULL DEFAULT '{}'::jsonb,
  rules          jsonb NOT NULL DEFAULT '{}'::jsonb,
  metadata       jsonb NOT NULL DEFAULT '{}'::jsonb,
  status         text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published', 'retired')),
  size_estimate  integer CHECK (size_estimate >= 0),
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, audience_id),
  UNIQUE (tenant_id, name)
);

CREATE TABLE lookalike_seed_profile (
  tenant_id      uuid NOT NULL,
  audience_id    uuid NOT NULL,
  profile        vector(512) NOT NULL,
  seed_count     integer NOT NULL CHECK (seed_count > 0),
  weight_total   real NOT NULL CHECK (weight_total > 0),
  seed_hash      text NOT NULL,
  model_version  text NOT NULL,
  computed_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, audience_id),
  FOREIGN KEY (tenant_id, audience_id) REFERENCES lookalike_audience (tenant_id, audience_id) ON DELETE CASCADE
);

CREATE TABLE lookalike_candidate (
  tenant_id         uuid NOT NULL,
  candidate_id      uuid NOT NULL DEFAULT gen_random_uuid(),
  audience_id       uuid NOT NULL,
  lead_id           uuid NOT NULL,
  similarity_score  real NOT NULL CHECK (similarity_score BETWEEN -1.0001 AND 1.0001),
  decile            smallint NOT NULL CHECK (decile BETWEEN 1 AND 10),
  reasons           jsonb NOT NULL DEFAULT '{}'::jsonb,
  rank_score        real,
  status            text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'accepted', 'exported', 'excluded', 'converted')),
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, candidate_id),
  UNIQUE (tenant_id, audience_id, lead_id),
  UNIQUE (tenant_id, audience_id, candidate_id),
  FOREIGN KEY (tenant_id, audience_id) REFERENCES lookalike_audience (tenant_id, audience_id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, lead_id) REFERENCES leads (tenant_id, lead_id) ON DELETE CASCADE
);
COMMENT ON COLUMN lookalike_candidate.decile IS 'ntile(10) over similarity within the pool: 10 = most similar.';

CREATE TABLE lookalike_audience_member (
  tenant_id     uuid NOT NULL,
  audience_id   uuid NOT NULL,
  candidate_id  uuid NOT NULL,
  added_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, audience_id, candidate_id),
  FOREIGN KEY (tenant_id, audience_id, candidate_id)
    REFERENCES lookalike_candidate (tenant_id, audience_id, candidate_id) ON DELETE CASCADE
);

CREATE TABLE lookalike_conversion (
  tenant_id      uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
  conversion_id  uuid NOT NULL DEFAULT gen_random_uuid(),
  event_id       text NOT NULL,
  lead_id        uuid NOT NULL,
  candidate_id   uuid,
  audience_id    uuid,
  event_type     text NOT NULL CHECK (event_type ~ '^[a-z][a-z0-9_]{0,62}$'),
  value          numeric(14, 2),
  occurred_at    timestamptz NOT NULL,
  metadata       jsonb NOT NULL DEFAULT '{}'::jsonb,
  received_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, conversion_id),
  UNIQUE (tenant_id, event_id),
  FOREIGN KEY (tenant_id, lead_id) REFERENCES leads (tenant_id, lead_id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, candidate_id) REFERENCES lookalike_candidate (tenant_id, candidate_id) ON DELETE SET NULL (candidate_id)
);

CREATE TABLE suppression_list (
  tenant_id       uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
  suppression_id  uuid NOT NULL DEFAULT gen_random_uuid(),
  lead_id         uuid,
  email_sha256    text CHECK (email_sha256 ~ '^[0-9a-f]{64}$'),
  reason          text NOT NULL DEFAULT 'unspecified',
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, suppression_id),
  CHECK (lead_id IS NOT NULL OR email_sha256 IS NOT NULL),
  FOREIGN KEY (tenant_id, lead_id) REFERENCES leads (tenant_id, lead_id) ON DELETE CASCADE
);
COMMENT ON COLUMN suppression_list.email_sha256 IS 'SHA-256 of the trimmed, lower-cased email: suppress without storing it.';

-- The demo generator's hidden truth: never a feature, only used to simulate outcomes and to measure.
CREATE TABLE demo_lead_propensity (
  tenant_id   uuid NOT NULL,
  lead_id     uuid NOT NULL,
  propensity  real NOT NULL CHECK (propensity BETWEEN 0 AND 1),
  PRIMARY KEY (tenant_id, lead_id),
  FOREIGN KEY (tenant_id, lead_id) REFERENCES leads (tenant_id, lead_id) ON DELETE CASCADE
);

CREATE INDEX leads_tenant_updated_idx ON leads (tenant_id, updated_at);
CREATE INDEX lookalike_seed_tenant_lead_idx ON lookalike_seed (tenant_id, lead_id);
CREATE INDEX lookalike_candidate_tenant_lead_idx ON lookalike_candidate (tenant_id, lead_id);
CREATE INDEX lookalike_conversion_tenant_time_idx ON lookalike_conversion (tenant_id, occurred_at);
CREATE INDEX suppression_list_lead_idx ON suppression_list (tenant_id, lead_id);
CREATE INDEX suppression_list_email_idx ON suppression_list (tenant_id, email_sha256);

CREATE TRIGGER tenants_touch BEFORE UPDATE ON tenants FOR EACH ROW EXECUTE FUNCTION lookalike_touch_updated_at();
CREATE TRIGGER leads_touch BEFORE UPDATE ON leads FOR EACH ROW EXECUTE FUNCTION lookalike_touch_updated_at();
CREATE TRIGGER audience_touch BEFORE UPDATE ON lookalike_audience FOR EACH ROW EXECUTE FUNCTION lookalike_touch_updated_at();
CREATE TRIGGER candidate_touch BEFORE UPDATE ON lookalike_candidate FOR EACH ROW EXECUTE FUNCTION lookalike_touch_updated_at();

-- leads.is_seed follows the live seeds of the lead.
CREATE OR REPLACE FUNCTION lookalike_sync_is_seed() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE t uuid; l uuid;
BEGIN
  IF TG_OP = 'DELETE' THEN t := OLD.tenant_id; l := OLD.lead_id; ELSE t := NEW.tenant_id; l := NEW.lead_id; END IF;
  UPDATE leads SET is_seed = EXISTS (
      SELECT 1 FROM lookalike_seed s WHERE s.tenant_id = t AND s.lead_id = l AND s.deleted_at IS NULL)
   WHERE tenant_id = t AND lead_id = l;
  IF TG_OP = 'UPDATE' AND (OLD.lead_id <> NEW.lead_id) THEN
    UPDATE leads SET is_seed = EXISTS (
        SELECT 1 FROM lookalike_seed s WHERE s.tenant_id = OLD.tenant_id AND s.lead_id = OLD.lead_id AND s.deleted_at IS NULL)
     WHERE tenant_id = OLD.tenant_id AND lead_id = OLD.lead_id;
  END IF;
  RETURN NULL;
END
$fn$;
CREATE TRIGGER lookalike_seed_is_seed AFTER INSERT OR UPDATE OR DELETE ON lookalike_seed
  FOR EACH ROW EXECUTE FUNCTION lookalike_sync_is_seed();

-- Row-Level Security: ENABLE and FORCE on every tenant table, one policy with USING and WITH CHECK.
DO $rls$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY[
    'tenants', 'tenant_feature_spec', 'leads', 'lead_features', 'lead_embeddings', 'lookalike_seed', 'lookalike_audience',
    'lookalike_seed_profile', 'lookalike_candidate', 'lookalike_audience_member', 'lookalike_conversion',
    'suppression_list', 'demo_lead_propensity'
  ] LOOP
    PERFORM lookalike_protect_table(t::regclass);
  END LOOP;
END
$rls$;

-- Privileges. Nothing is granted to PUBLIC; lookalike_bi gets nothing here (it reads marts only).
GRANT USAGE ON SCHEMA public TO lookalike_app, lookalike_pipeline;
GRANT EXECUTE ON FUNCTION lookalike_current_tenant() TO lookalike_app, lookalike_pipeline, lookalike_bi;

GRANT SELECT ON tenants TO lookalike_app, lookalike_pipeline;
GRANT SELECT, INSERT, UPDATE ON tenant_feature_spec TO lookalike_app, lookalike_pipeline;
GRANT SELECT, INSERT, UPDATE, DELETE ON
  leads, lead_features, lead_embeddings, lookalike_seed, lookalike_audience, lookalike_seed_profile,
  lookalike_candidate, lookalike_audience_member, lookalike_conversion, suppression_list, demo_lead_propensity
  TO lookalike_pipeline;
GRANT SELECT, INSERT, UPDATE, DELETE ON
  leads, lookalike_seed, lookalike_audience, lookalike_conversion, suppression_list
  TO lookalike_app;
GRANT SELECT ON lead_features, lead_embeddings, lookalike_seed_profile, lookalike_candidate,
  lookalike_audience_member TO lookalike_app;
GRANT UPDATE (status) ON lookalike_candidate TO lookalike_app;
