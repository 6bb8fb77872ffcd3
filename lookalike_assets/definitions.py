"""The Dagster code location: `dagster dev -m lookalike_assets.definitions` (or workspace.yaml)."""

import dagster as dg

from lookalike_assets.defs.analytics.dbt import dbt_defs, dbt_resource
from lookalike_assets.defs.audiences.assets import (
    audience_exports,
    audience_memberships,
    candidate_pools,
    seed_profiles,
)
from lookalike_assets.defs.feedback.assets import (
    LandingFolder,
    conversion_facts,
    landed_conversions,
    performance_reports,
)
from lookalike_assets.defs.feedback.sensors import (
    conversion_facts_job,
    conversion_facts_sensor,
    conversion_landing_sensor,
    ingest_conversions_job,
)
from lookalike_assets.defs.jobs import marts_refresh_job, marts_schedule, tenant_refresh_job
from lookalike_assets.defs.leads.assets import lead_embeddings, lead_features
from lookalike_assets.defs.ranking.assets import (
    ranking_feedback_sensor,
    ranking_model,
    ranking_retrain_job,
    weekly_ranking_retrain,
)
from lookalike_assets.defs.resources import default_resources
from lookalike_assets.defs.runs import dead_runs_sensor
from lookalike_assets.defs.sources import source_specs
from lookalike_assets.defs.tenants.sensors import nightly_tenant_refresh, tenant_changes_sensor

# The per-tenant assets, in graph order (what `tenant_refresh` materializes for one partition).
tenant_assets = [lead_features, lead_embeddings, seed_profiles, ranking_model, candidate_pools,
                 audience_memberships, audience_exports]

defs = dg.Definitions(
    assets=[*source_specs, *tenant_assets, *dbt_defs, landed_conversions, conversion_facts, performance_reports],
    jobs=[tenant_refresh_job, marts_refresh_job, ingest_conversions_job, conversion_facts_job, ranking_retrain_job],
    sensors=[tenant_changes_sensor, conversion_landing_sensor, conversion_facts_sensor, ranking_feedback_sensor,
             dead_runs_sensor],
    schedules=[nightly_tenant_refresh, marts_schedule, weekly_ranking_retrain],
    resources={**default_resources(), "dbt": dbt_resource(), "landing": LandingFolder()},
)
