-- Who was put in an audience's control arm first, and when (a lead keeps the arm of its first assignment: the
-- treatment arm's first assignment is its first export, lookalike_exposure.first_exported_at). Kept whatever
-- happens to pools and members, like lookalike_exposure.
CREATE TABLE lookalike_holdout_assignment (
  tenant_id    uuid NOT NULL,
  audience_id  uuid NOT NULL,
  lead_id      uuid NOT NULL,
  assigned_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, audience_id, lead_id),
  FOREIGN KEY (tenant_id, audience_id) REFERENCES lookalike_audience (tenant_id, audience_id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, lead_id) REFERENCES leads (tenant_id, lead_id) ON DELETE CASCADE
);
CREATE INDEX lookalike_holdout_assignment_lead_idx ON lookalike_holdout_assignment (tenant_id, lead_id);
COMMENT ON TABLE lookalike_holdout_assignment IS 'First assignment of a lead to an audience''s control arm (never exported); with lookalike_exposure, the population of the audience''s incrementality study.';
SELECT lookalike_protect_table('lookalike_holdout_assignment');
GRANT SELECT, INSERT, DELETE ON lookalike_holdout_assignment TO lookalike_pipeline;
GRANT UPDATE (assigned_at) ON lookalike_holdout_assignment TO lookalike_pipeline;  -- the demo dates its history
GRANT SELECT ON lookalike_holdout_assignment TO lookalike_app_access;
-- backfill: today's control members were assigned at least when they became members
INSERT INTO lookalike_holdout_assignment (tenant_id, audience_id, lead_id, assigned_at)
SELECT m.tenant_id, m.audience_id, c.lead_id, m.added_at
FROM lookalike_audience_member m
JOIN lookalike_candidate c ON c.tenant_id = m.tenant_id AND c.candidate_id = m.candidate_id
WHERE m.arm = 'control'
ON CONFLICT DO NOTHING;
