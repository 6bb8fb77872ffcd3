"""The Dagster layer: definitions load, and a tenant partition materializes in-process for real."""

from __future__ import annotations

import dagster as dg
from conftest import tenant_profile

from lookalike_assets.db.connect import PIPELINE_ROLE, tenant_transaction
from lookalike_assets.defs.audiences.resources import ExportDestinationResource
from lookalike_assets.defs.leads.resources import TextEncoderResource
from lookalike_assets.defs.partitions import TENANTS_PARTITION
from lookalike_assets.defs.resources import LookalikeConfig, LookalikeDatabase
from lookalike_assets.pipeline.demo import load_tenant

TENANT_ASSETS = ["lead_features", "lead_embeddings", "seed_profiles", "candidate_pools", "ranking_model",
                 "audience_memberships", "audience_segments", "audience_exports", "destination_syncs"]


def test_definitions_load():
    from lookalike_assets.definitions import defs

    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert set(TENANT_ASSETS) <= keys
    assert {"leads", "lookalike_seed", "lookalike_audience", "suppression_list"} <= keys
    job = defs.resolve_job_def("tenant_refresh")
    assert job.partitions_def.name == TENANTS_PARTITION
    graph = defs.resolve_asset_graph()
    assert dg.AssetKey("lead_features") in graph.get(dg.AssetKey("lead_embeddings")).parent_keys


def test_tenant_partition_materializes_in_process(owner, conn, test_url, new_slug, tmp_path):
    from lookalike_assets.definitions import tenant_assets

    t = load_tenant(owner, tenant_profile(0, new_slug("dg")), 250, pool_size=60)
    tid = t.slug  # the partition key
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(TENANTS_PARTITION, [tid])
    resources = {
        "db": LookalikeDatabase(database_url=test_url),
        "encoder": TextEncoderResource(encoder="minilm"),  # the real all-MiniLM-L6-v2, offline
        "lookalike": LookalikeConfig(pool_size=100),
        "exports": ExportDestinationResource(folder=str(tmp_path)),
    }
    result = dg.materialize(tenant_assets, partition_key=tid, instance=instance, resources=resources)
    assert result.success
    mats = {m.asset_key.to_user_string(): m for m in result.get_asset_materialization_events()}
    assert set(mats) == set(TENANT_ASSETS)
    emb_meta = mats["lead_embeddings"].materialization.metadata
    assert emb_meta["embedded_this_run"].value == 250
    assert emb_meta["coverage"].value == 1.0
    assert emb_meta["model"].value == "all-MiniLM-L6-v2"
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {"every_lead_embedded": True, "pools_have_requested_size": True, "audiences_valid": True,
                      "exports_delivered": True, "segments_within_bounds": True, "inputs_fresh": True,
                      "embedding_coverage": True, "pool_not_shrunk": True, "conversion_rate_steady": True,
                      "champion_not_outperformed": True, "destinations_synced": True}
    # every step is in the step log, with its rows and figures
    with tenant_transaction(conn, t.tenant_id, PIPELINE_ROLE):
        steps = {r[0]: r[1:] for r in conn.execute(
            "select asset, status, row_count, metrics, error_class from lookalike_step_log")}
    assert set(steps) == set(TENANT_ASSETS)
    assert all(s[0] == "succeeded" and s[3] is None for s in steps.values())
    assert steps["lead_embeddings"][1] == 250 and steps["lead_embeddings"][2]["coverage"] == 1.0
    assert steps["candidate_pools"][1] == 60 * t.audiences
    pools_meta = mats["candidate_pools"].materialization.metadata
    assert pools_meta["candidates"].value == 60 * t.audiences
    with tenant_transaction(conn, t.tenant_id, PIPELINE_ROLE):
        assert conn.execute("select count(*) from lookalike_candidate").fetchone()[0] == 60 * t.audiences
        assert conn.execute("select count(distinct model_version) from lead_embeddings").fetchone()[0] == 1

    # the second run embeds nothing and leaves the pools alone
    again = dg.materialize(tenant_assets, partition_key=tid, instance=instance, resources=resources)
    mats = {m.asset_key.to_user_string(): m for m in again.get_asset_materialization_events()}
    assert mats["lead_embeddings"].materialization.metadata["embedded_this_run"].value == 0


def test_unknown_partition_fails_clearly(test_url, tmp_path):
    from lookalike_assets.definitions import tenant_assets

    instance = dg.DagsterInstance.ephemeral()
    ghost = "00000000-0000-0000-0000-000000000001"
    instance.add_dynamic_partitions(TENANTS_PARTITION, [ghost])
    result = dg.materialize(tenant_assets, partition_key=ghost, instance=instance, raise_on_error=False,
                            resources={"db": LookalikeDatabase(database_url=test_url),
                                       "encoder": TextEncoderResource(encoder="hashing"),
                                       "lookalike": LookalikeConfig(),
                                       "exports": ExportDestinationResource(folder=str(tmp_path))},
                            selection=["lead_features"])
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "does not exist" in str(failure.step_failure_data.user_failure_data or failure.step_failure_data.error)
    # the same for a slug no tenant has (a deleted tenant's partition)
    instance.add_dynamic_partitions(TENANTS_PARTITION, ["no-such-tenant"])
    result = dg.materialize(tenant_assets, partition_key="no-such-tenant", instance=instance, raise_on_error=False,
                            resources={"db": LookalikeDatabase(database_url=test_url),
                                       "encoder": TextEncoderResource(encoder="hashing"),
                                       "lookalike": LookalikeConfig(),
                                       "exports": ExportDestinationResource(folder=str(tmp_path))},
                            selection=["lead_features"])
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "there is no tenant 'no-such-tenant'" in str(failure.step_failure_data.user_failure_data
                                                          or failure.step_failure_data.error)


def test_the_code_location_validates_as_a_deployment_validates_it(tmp_path):
    """`dagster definitions validate`, in a fresh process, as a deployment checks the code location."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    res = subprocess.run([str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-m",
                          "lookalike_assets.definitions"], env={**os.environ, "DAGSTER_HOME": str(tmp_path)},
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    assert "Validation successful" in res.stdout + res.stderr
