-- Reverts 0001. Roles are cluster-wide and may serve other databases: they are kept.
DROP TABLE IF EXISTS demo_lead_propensity, suppression_list, lookalike_conversion, lookalike_audience_member,
  lookalike_candidate, lookalike_seed_profile, lookalike_audience, lookalike_seed, lead_embeddings,
  lead_features, leads, tenant_feature_spec, tenants CASCADE;
DROP FUNCTION IF EXISTS lookalike_sync_is_seed();
DROP FUNCTION IF EXISTS lookalike_touch_updated_at();
DROP FUNCTION IF EXISTS lookalike_protect_table(regclass);
DROP FUNCTION IF EXISTS lookalike_current_tenant();
