"""The Dagster code location: every definition under ``lookalike_assets/defs/`` (assets, checks, jobs, schedules,
sensors, and each area's resources), loaded by `dg` conventions: a new module under ``defs/`` needs no edit here.

`dagster dev` / `dg dev` load it from pyproject.toml (``[tool.dg]``); `dg list defs` lists what it holds.
"""

from pathlib import Path

import dagster as dg

from lookalike_assets.defs.audiences.assets import (
    audience_exports,
    audience_memberships,
    audience_segments,
    candidate_pools,
    destination_syncs,
    seed_profiles,
)
from lookalike_assets.defs.leads.assets import lead_embeddings, lead_features
from lookalike_assets.defs.ranking.assets import ranking_model

defs = dg.load_from_defs_folder(path_within_project=Path(__file__).resolve().parent)

# The per-tenant assets in graph order, unbound (what `tenant_refresh` materializes for one partition; tests and
# benchmarks materialize them with their own resources).
tenant_assets = [lead_features, lead_embeddings, seed_profiles, ranking_model, candidate_pools,
                 audience_memberships, audience_segments, audience_exports, destination_syncs]
