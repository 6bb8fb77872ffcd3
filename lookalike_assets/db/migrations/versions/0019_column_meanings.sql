-- What a tenant says its columns mean, over what lookalike infers from their names and values. One row per
-- column; an empty correction is none (forgetting one writes '{}': the tenant's logins need no DELETE, whose
-- table-level privilege would let them take locks that stall other tenants).
CREATE TABLE lookalike_column_meaning (
  tenant_id     uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
  column_name   text NOT NULL CHECK (length(column_name) BETWEEN 1 AND 200),  -- the rule field: attributes.tenure, title
  correction    jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(correction) = 'object'),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, column_name)
);
SELECT lookalike_protect_table('lookalike_column_meaning');
GRANT SELECT, INSERT, UPDATE (correction, updated_at) ON lookalike_column_meaning TO lookalike_app_access;
GRANT SELECT ON lookalike_column_meaning TO lookalike_pipeline;
COMMENT ON TABLE lookalike_column_meaning IS
  'A tenant''s corrections of its columns'' meanings (label, description, unit, scale, synonyms, kind).';
