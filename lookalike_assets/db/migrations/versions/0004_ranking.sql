-- Revision 0004: every trained ranking model of a tenant, with its text and metrics, so any worker can load
-- the champion. At most one champion per tenant.
CREATE TABLE lookalike_ranking_model (
  tenant_id      uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
  model_id       uuid NOT NULL DEFAULT gen_random_uuid(),
  version        integer NOT NULL CHECK (version > 0),
  kind           text NOT NULL CHECK (kind IN ('pu', 'feedback')),
  status         text NOT NULL CHECK (status IN ('champion', 'rejected', 'retired')),
  model_text     text NOT NULL,   -- what scores candidates: the recipe refitted on all data when promoted
  eval_model_text text,           -- the same recipe trained without the holdout: what challengers are compared with
  features       jsonb NOT NULL,
  metrics        jsonb NOT NULL,
  trained_at     timestamptz NOT NULL DEFAULT now(),
  promoted_at    timestamptz,
  run_id         text,
  PRIMARY KEY (tenant_id, model_id),
  UNIQUE (tenant_id, version)
);
CREATE UNIQUE INDEX lookalike_ranking_model_one_champion ON lookalike_ranking_model (tenant_id)
  WHERE status = 'champion';

SELECT lookalike_protect_table('lookalike_ranking_model');
GRANT SELECT, INSERT, UPDATE, DELETE ON lookalike_ranking_model TO lookalike_pipeline;
GRANT SELECT ON lookalike_ranking_model TO lookalike_app;

-- Per-tenant ranking settings (e.g. sensitive attributes to exclude) live in tenants.settings -> 'ranking';
-- the pipeline reads them, only the owner writes them.
