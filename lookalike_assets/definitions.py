"""The Dagster code location: `dagster dev -m lookalike_assets.definitions` (or workspace.yaml)."""

import dagster as dg

from lookalike_assets.defs.audiences.assets import candidate_pools, seed_profiles
from lookalike_assets.defs.jobs import tenant_refresh_job
from lookalike_assets.defs.leads.assets import lead_embeddings, lead_features
from lookalike_assets.defs.resources import default_resources
from lookalike_assets.defs.sources import source_specs

defs = dg.Definitions(
    assets=[*source_specs, lead_features, lead_embeddings, seed_profiles, candidate_pools],
    jobs=[tenant_refresh_job],
    resources=default_resources(),
)
