-- Holdouts: each member of an audience is in the treatment arm (exported) or the control arm (held out of every
-- export, rules.holdout.percent), by a stable hash of tenant, audience and lead (domain/holdout.py).
ALTER TABLE lookalike_audience_member
  ADD COLUMN arm text NOT NULL DEFAULT 'treatment' CHECK (arm IN ('treatment', 'control'));
COMMENT ON COLUMN lookalike_audience_member.arm IS
  'treatment (exported) or control (held out of every export to measure incrementality); stable per lead while '
  'the audience''s holdout percentage is unchanged.';
