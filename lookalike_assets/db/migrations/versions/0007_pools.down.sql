DROP INDEX IF EXISTS lookalike_tenant_role_tenant_idx;
DELETE FROM lookalike_conversion_fact f WHERE candidate_id IS NULL
   OR NOT EXISTS (SELECT 1 FROM lookalike_candidate c WHERE c.tenant_id = f.tenant_id AND c.candidate_id = f.candidate_id);
DELETE FROM lookalike_conversion_fact WHERE similarity_score IS NULL OR decile IS NULL;
ALTER TABLE lookalike_conversion_fact ALTER COLUMN candidate_id SET NOT NULL;
ALTER TABLE lookalike_conversion_fact ALTER COLUMN similarity_score SET NOT NULL;
ALTER TABLE lookalike_conversion_fact ALTER COLUMN decile SET NOT NULL;
ALTER TABLE lookalike_conversion_fact ADD CONSTRAINT lookalike_conversion_fact_tenant_id_candidate_id_fkey
  FOREIGN KEY (tenant_id, candidate_id) REFERENCES lookalike_candidate (tenant_id, candidate_id) ON DELETE CASCADE;
DROP TABLE IF EXISTS lookalike_exposure, lookalike_pool_stage, lookalike_lead_score;
