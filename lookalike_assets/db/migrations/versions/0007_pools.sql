-- Revision 0007: audiences cut by the learned ranking, published whole, and history that outlives pool churn.

-- 1. The champion's score of every embedded lead of a tenant: the pool of an audience is the top N by it (where a
--    model exists), and it orders the audience.
CREATE TABLE lookalike_lead_score (
  tenant_id   uuid NOT NULL,
  lead_id     uuid NOT NULL,
  model_id    uuid NOT NULL,
  score       real NOT NULL,
  scored_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, lead_id),
  FOREIGN KEY (tenant_id, lead_id) REFERENCES leads (tenant_id, lead_id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, model_id) REFERENCES lookalike_ranking_model (tenant_id, model_id) ON DELETE CASCADE
);
CREATE INDEX lookalike_lead_score_rank_idx ON lookalike_lead_score (tenant_id, score DESC);
-- behind the foreign key to the model (a retired model's scores go with it)
CREATE INDEX lookalike_lead_score_model_idx ON lookalike_lead_score (tenant_id, model_id);
SELECT lookalike_protect_table('lookalike_lead_score');
GRANT SELECT, INSERT, UPDATE, DELETE ON lookalike_lead_score TO lookalike_pipeline;
GRANT SELECT ON lookalike_lead_score TO lookalike_app_access;

-- 2. The pool step stages each audience's new pool here; the membership step then replaces the audience's
--    candidates, members, size and status in one transaction. A run stopped in between leaves every published
--    audience exactly as it was.
CREATE TABLE lookalike_pool_stage (
  tenant_id         uuid NOT NULL,
  audience_id       uuid NOT NULL,
  lead_id           uuid NOT NULL,
  similarity_score  real NOT NULL CHECK (similarity_score BETWEEN -1.0001 AND 1.0001),
  rank_score        real,
  decile            smallint NOT NULL CHECK (decile BETWEEN 1 AND 10),
  reasons           jsonb NOT NULL DEFAULT '{}'::jsonb,
  run_id            text,
  staged_at         timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, audience_id, lead_id),
  FOREIGN KEY (tenant_id, audience_id) REFERENCES lookalike_audience (tenant_id, audience_id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, lead_id) REFERENCES leads (tenant_id, lead_id) ON DELETE CASCADE
);
-- behind the foreign key to leads: deleting leads looks each one up here
CREATE INDEX lookalike_pool_stage_lead_idx ON lookalike_pool_stage (tenant_id, lead_id);
SELECT lookalike_protect_table('lookalike_pool_stage');
GRANT SELECT, INSERT, UPDATE, DELETE ON lookalike_pool_stage TO lookalike_pipeline;

-- 3. Who was exported in which audience, when: the outcomes the ranking learns from. Kept whatever happens to
--    pools (a candidate row goes when its lead leaves the pool; this does not).
CREATE TABLE lookalike_exposure (
  tenant_id          uuid NOT NULL,
  audience_id        uuid NOT NULL,
  lead_id            uuid NOT NULL,
  first_exported_at  timestamptz NOT NULL DEFAULT now(),
  last_exported_at   timestamptz NOT NULL DEFAULT now(),
  exports            integer NOT NULL DEFAULT 1 CHECK (exports > 0),
  PRIMARY KEY (tenant_id, audience_id, lead_id),
  FOREIGN KEY (tenant_id, audience_id) REFERENCES lookalike_audience (tenant_id, audience_id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, lead_id) REFERENCES leads (tenant_id, lead_id) ON DELETE CASCADE
);
CREATE INDEX lookalike_exposure_lead_idx ON lookalike_exposure (tenant_id, lead_id);
SELECT lookalike_protect_table('lookalike_exposure');
GRANT SELECT, INSERT, UPDATE, DELETE ON lookalike_exposure TO lookalike_pipeline;
GRANT SELECT ON lookalike_exposure TO lookalike_app_access;
-- what earlier exports marked on candidates
INSERT INTO lookalike_exposure (tenant_id, audience_id, lead_id, first_exported_at, last_exported_at)
SELECT tenant_id, audience_id, lead_id, min(updated_at), max(updated_at) FROM lookalike_candidate
WHERE status IN ('exported', 'converted') GROUP BY tenant_id, audience_id, lead_id
ON CONFLICT DO NOTHING;

-- 4. Conversion facts reference the audience and the lead (their own foreign keys, 0006), no longer the volatile
--    candidate row: a pool that shrinks deletes no fact. candidate_id stays as the candidate it was at the time.
ALTER TABLE lookalike_conversion_fact DROP CONSTRAINT lookalike_conversion_fact_tenant_id_candidate_id_fkey;
ALTER TABLE lookalike_conversion_fact ALTER COLUMN candidate_id DROP NOT NULL;
-- an event of a lead that was exported in an audience but is no longer in its pool has no current similarity
ALTER TABLE lookalike_conversion_fact ALTER COLUMN similarity_score DROP NOT NULL;
ALTER TABLE lookalike_conversion_fact ALTER COLUMN decile DROP NOT NULL;
COMMENT ON COLUMN lookalike_conversion_fact.candidate_id IS
  'The candidate the event was attributed to at the time (it may have left the pool since).';

-- 5. Every foreign key has an index led by its columns (deleting a tenant's leads looks each one up in every
--    referencing table): the last one missing.
CREATE INDEX lookalike_tenant_role_tenant_idx ON lookalike_tenant_role (tenant_id);
