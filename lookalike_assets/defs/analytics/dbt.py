"""dbt models as Dagster assets in the same lineage graph as the Python assets.

dbt's own YAML says how each node appears in Dagster (``meta.dagster``): every source table names the Python asset
that writes it, each layer its group, every model its owners. The manifest is prepared once, by `make` before
anything runs (``dagster-dbt project prepare-and-package``) and by the Docker build; importing this module never
runs dbt (under `dagster dev`, every step process imports it), and a missing manifest is an error that says how to
make it, never a code location without its dbt assets.
"""

import functools
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets

from lookalike_assets.db.connect import admin_connection, dbt_env
from lookalike_assets.db.queries import Q
from lookalike_assets.db.stalls import guarded
from lookalike_assets.defs.helpers import HOURLY
from lookalike_assets.defs.resources import LookalikeDatabase

DBT_PROJECT_DIR = Path(__file__).resolve().parents[3] / "dbt_project"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)

class MartsTranslator(DagsterDbtTranslator):
    """dbt's YAML decides keys, groups and owners (meta.dagster); the marts, rebuilt hourly, get a freshness policy."""

    def get_asset_spec(self, manifest, unique_id, project):
        spec = super().get_asset_spec(manifest, unique_id, project)
        return spec.replace_attributes(freshness_policy=HOURLY) if spec.group_name == "dbt_marts" else spec


translator = MartsTranslator(settings=DagsterDbtTranslatorSettings(
    enable_code_references=True,
    # two tables (candidates and members) are written by one asset, audience_memberships
    enable_duplicate_source_asset_keys=True,
))


@functools.cache
def dbt_models() -> dg.AssetsDefinition:
    """The dbt assets, built from the prepared manifest (an error that says how to make it when it is missing)."""
    if not dbt_project.manifest_path.exists():
        raise dg.DagsterInvariantViolationError(
            f"the dbt manifest {dbt_project.manifest_path} is missing, so the marts cannot be loaded: run `make "
            "install` (or `dagster-dbt project prepare-and-package --file lookalike_assets/defs/analytics/dbt.py`); "
            "the Docker image prepares it at build time")

    @dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project, dagster_dbt_translator=translator)
    def lookalike_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, db: LookalikeDatabase):
        """`dbt build`: staging views, intermediate joins, marts (tables with RLS), and their tests; each table's
        row count is recorded with its materialization."""
        os.environ.update(dbt_env(db.conninfo()))
        # a tenant's BI session that holds a mart open never stalls the build, nor queues other tenants' reads
        # behind the build's swap of that mart: it is ended after a short grace (db/stalls.py)
        with guarded(db.conninfo()) as guard:
            invocation = dbt.cli(["build"], context=context)
            with admin_connection(db.conninfo()) as conn:
                yield from with_row_counts(invocation.stream(), invocation.manifest, conn)
        for role, state in guard.ended:
            context.log.warning(f"ended a session of a tenant's login ({role}, {state}): it held a lock the build "
                                "waited on")

    return lookalike_dbt_models


def with_row_counts(events, manifest: dict, conn) -> Iterator:
    """Each built table's row count on its materialization, counted as the owner dbt runs as (a superuser in the
    embedded server and the Docker image, so across tenants). dagster-dbt's
    own ``fetch_row_counts`` names a table by the database of the manifest prepared at install time, which a
    deployment's database need not be (`lookalike_test`, a production name): PostgreSQL refuses that as a
    cross-database reference. Schema and name are the same everywhere."""
    for event in events:
        unique_id = event.metadata.get("unique_id") if isinstance(event, dg.Output | dg.AssetMaterialization) else None
        node = manifest["nodes"].get(unique_id.value) if unique_id is not None else None
        if node is not None and node["config"]["materialized"] in ("table", "incremental"):
            with conn.transaction():
                rows = Q.session.table_rows(conn, table=f'"{node["schema"]}"."{node["alias"]}"')
            event = event.with_metadata({**event.metadata, "dagster/row_count": dg.MetadataValue.int(rows)})
        yield event


def dbt_executable() -> str:
    """The dbt installed next to this Python (the virtualenv), else whatever `dbt` is on PATH."""
    local = Path(sys.executable).parent / "dbt"
    return str(local) if local.exists() else "dbt"


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=dbt_project, profiles_dir=str(DBT_PROJECT_DIR), dbt_executable=dbt_executable())


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=[dbt_models()], resources={"dbt": dbt_resource()})
