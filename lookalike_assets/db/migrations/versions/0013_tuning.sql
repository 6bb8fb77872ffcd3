-- Every change the tuning made to an audience (rules.auto_tune): the reach before and after, and why. Kept with
-- the audience; tenant-keyed, Row-Level Security forced.
CREATE TABLE lookalike_tuning_log (
  tenant_id     uuid NOT NULL,
  tuning_id     bigint GENERATED ALWAYS AS IDENTITY,
  audience_id   uuid NOT NULL,
  changed_at    timestamptz NOT NULL DEFAULT now(),
  before        jsonb NOT NULL,
  after         jsonb NOT NULL,
  basis         text NOT NULL CHECK (basis IN ('value', 'precision')),
  reason        text NOT NULL,
  PRIMARY KEY (tenant_id, tuning_id),
  FOREIGN KEY (tenant_id, audience_id) REFERENCES lookalike_audience (tenant_id, audience_id) ON DELETE CASCADE
);
CREATE INDEX lookalike_tuning_log_audience_idx ON lookalike_tuning_log (tenant_id, audience_id, changed_at);
COMMENT ON TABLE lookalike_tuning_log IS
  'Changes the tuning applied to audiences with rules.auto_tune: rules.reach before and after, and the reason.';
SELECT lookalike_protect_table('lookalike_tuning_log');
GRANT SELECT, INSERT ON lookalike_tuning_log TO lookalike_pipeline;
GRANT SELECT ON lookalike_tuning_log TO lookalike_app_access;
