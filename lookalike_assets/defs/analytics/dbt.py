"""dbt models as Dagster assets in the same lineage graph as the Python assets.

The manifest is prepared once, by `make` before anything runs (``dagster-dbt project prepare-and-package``) and
by the Docker build. Importing this module never runs dbt (under `dagster dev`, every step process imports it).
"""

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from lookalike_assets.db.connect import dbt_env
from lookalike_assets.defs.resources import LookalikeDatabase

DBT_PROJECT_DIR = Path(__file__).resolve().parents[3] / "dbt_project"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)

# dbt sources (tables in schema public) -> the Python assets (or external tables) that write them.
SOURCE_ASSETS: dict[str, str] = {
    "tenants": "tenants",
    "leads": "leads",
    "lead_features": "lead_features",
    "lead_embeddings": "lead_embeddings",
    "lookalike_seed": "lookalike_seed",
    "lookalike_audience": "lookalike_audience",
    "lookalike_seed_profile": "seed_profiles",
    "lookalike_candidate": "candidate_pools",
    "lookalike_audience_member": "audience_memberships",
    "lookalike_conversion": "lookalike_conversion",
    "lookalike_conversion_fact": "conversion_facts",
    "lookalike_export_job": "audience_exports",
    "suppression_list": "suppression_list",
}


class LookalikeDbtTranslator(DagsterDbtTranslator):
    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] == "source":
            return spec.replace_attributes(key=dg.AssetKey(SOURCE_ASSETS.get(props["name"], props["name"])))
        layer = props["fqn"][1] if len(props["fqn"]) > 2 else "dbt"
        return spec.replace_attributes(group_name=f"dbt_{layer}")


def manifest_ready() -> bool:
    return dbt_project.manifest_path.exists()


if manifest_ready():

    @dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project,
                dagster_dbt_translator=LookalikeDbtTranslator())
    def lookalike_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, db: LookalikeDatabase):
        """`dbt build`: staging views, intermediate joins, marts (tables with RLS), and their tests."""
        os.environ.update(dbt_env(db.conninfo()))
        yield from dbt.cli(["build"], context=context).stream()

    dbt_defs = [lookalike_dbt_models]
else:  # pragma: no cover - a checkout where `make` has not prepared the manifest yet
    dbt_defs = []


def dbt_executable() -> str:
    """The dbt installed next to this Python (the virtualenv), else whatever `dbt` is on PATH."""
    local = Path(sys.executable).parent / "dbt"
    return str(local) if local.exists() else "dbt"


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=dbt_project, profiles_dir=str(DBT_PROJECT_DIR), dbt_executable=dbt_executable())
