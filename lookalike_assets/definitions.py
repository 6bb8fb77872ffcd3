"""The Dagster code location: `dagster dev -m lookalike_assets.definitions` (or workspace.yaml)."""

import dagster as dg

from lookalike_assets.defs.analytics.dbt import dbt_defs, dbt_resource
from lookalike_assets.defs.audiences.assets import candidate_pools, seed_profiles
from lookalike_assets.defs.jobs import marts_refresh_job, tenant_refresh_job
from lookalike_assets.defs.leads.assets import lead_embeddings, lead_features
from lookalike_assets.defs.resources import default_resources
from lookalike_assets.defs.sources import source_specs

# The per-tenant assets, in graph order (what `tenant_refresh` materializes for one partition).
tenant_assets = [lead_features, lead_embeddings, seed_profiles, candidate_pools]

defs = dg.Definitions(
    assets=[*source_specs, *tenant_assets, *dbt_defs],
    jobs=[tenant_refresh_job, marts_refresh_job],
    resources={**default_resources(), "dbt": dbt_resource()},
)
