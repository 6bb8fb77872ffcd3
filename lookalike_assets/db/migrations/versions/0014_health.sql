-- Every step of a tenant asset (one asset, one tenant partition, one run): when, how long, whether it succeeded,
-- the class of the root cause when it failed (never its message: no person's data), the rows it processed and
-- its numeric figures (coverage, counts). What mart_pipeline_health reads; tenant-keyed, Row-Level Security forced.
CREATE TABLE lookalike_step_log (
  tenant_id    uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
  step_id      bigint GENERATED ALWAYS AS IDENTITY,
  run_id       text NOT NULL,
  asset        text NOT NULL,
  started_at   timestamptz NOT NULL,
  seconds      double precision NOT NULL CHECK (seconds >= 0),
  status       text NOT NULL CHECK (status IN ('succeeded', 'failed')),
  error_class  text,
  row_count    bigint CHECK (row_count >= 0),
  metrics      jsonb NOT NULL DEFAULT '{}'::jsonb,
  PRIMARY KEY (tenant_id, step_id),
  CHECK ((status = 'failed') = (error_class IS NOT NULL))
);
CREATE INDEX lookalike_step_log_started_idx ON lookalike_step_log (tenant_id, started_at);
COMMENT ON TABLE lookalike_step_log IS
  'One row per tenant asset step: duration, status, root-cause class of a failure, rows processed, numeric figures.';
SELECT lookalike_protect_table('lookalike_step_log');
GRANT SELECT, INSERT ON lookalike_step_log TO lookalike_pipeline;
GRANT SELECT ON lookalike_step_log TO lookalike_app_access;
