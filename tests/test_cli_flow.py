"""What a growth team does from the command line, end to end: import, seed, define, one sensor tick, and
the tenant is materialized."""

from __future__ import annotations

import json
import os

import dagster as dg
import psycopg
from conftest import cli, tenant_profile

from lookalike_assets.db.connect import PIPELINE_ROLE, tenant_transaction
from lookalike_assets.db.queries import Q
from lookalike_assets.defs.audiences.resources import ExportDestinationResource
from lookalike_assets.defs.leads.resources import TextEncoderResource
from lookalike_assets.defs.partitions import TENANTS_PARTITION
from lookalike_assets.defs.resources import LookalikeConfig, LookalikeDatabase
from lookalike_assets.defs.tenants.sensors import tenant_changes_sensor
from lookalike_assets.pipeline.demo import load_tenant


def test_seeds_via_cli_then_one_sensor_tick_materializes_the_tenant(owner, cli_env, conn, test_url, new_slug, tmp_path):
    t = load_tenant(owner, tenant_profile(0, new_slug("cli")), 400, pool_size=120)
    slug = t.slug
    start = Q.changes.change_horizon(conn)
    with owner.transaction():
        fresh = [r[0] for r in owner.execute("select external_id from leads where tenant_id = %s and not is_seed "
                                            "order by external_id limit 3", (t.tenant_id,))]
    code, out = cli("seeds", "add", *fresh, "--tenant", slug, "--label", "won")
    assert code == 0 and "3 seed(s) added" in out, out
    code, out = cli("audiences", "create", "Software buyers", "--tenant", slug, "--labels", "won",
                    "--rules", json.dumps({"filters": [{"field": "industry", "op": "in",
                                                        "values": ["software", "fintech"]}],
                                           "reach": {"max_size": 50}, "auto_publish": True,
                                           "destinations": ["crm"]}))
    assert code == 0 and "created as draft" in out, out

    instance = dg.DagsterInstance.ephemeral()
    ctx = dg.build_sensor_context(instance=instance, cursor=start,
                                  resources={"db": LookalikeDatabase(database_url=test_url)})
    result = tenant_changes_sensor(ctx)
    assert [r.partition_key for r in result.run_requests] == [slug]
    rr = result.run_requests[0]
    instance.add_dynamic_partitions(TENANTS_PARTITION, [rr.partition_key])

    from lookalike_assets.definitions import tenant_assets

    run = dg.materialize(tenant_assets, partition_key=rr.partition_key, instance=instance, tags=rr.tags, resources={
        "db": LookalikeDatabase(database_url=test_url), "encoder": TextEncoderResource(encoder="hashing"),
        "lookalike": LookalikeConfig(pool_size=120), "exports": ExportDestinationResource(folder=str(tmp_path)),
    })
    assert run.success
    with tenant_transaction(conn, t.tenant_id, PIPELINE_ROLE):
        status, size = conn.execute("select status, size_estimate from lookalike_audience "
                                    "where name = 'Software buyers'").fetchone()
    assert status == "published" and 0 < size <= 50
    assert list(tmp_path.rglob("crm.csv"))

    code, out = cli("audiences", "show", "Software buyers", "--tenant", slug, "--top", "3")
    assert code == 0 and "top members" in out and "reach: how many leads" in out, out
    # issue 33 §1: reach as the best N and their share, the score named by what it is (never "similarity" for a
    # model's score), each top member's place in the audience instead of a raw score
    assert "minimum similarity" not in out
    code, out = cli("audiences", "show", "Software buyers", "--tenant", slug, "--json")
    rep = json.loads(out)
    assert rep["members"] == size and len(rep["top"]) == 10
    assert [t["place"] for t in rep["top"]] == list(range(1, 11)) and rep["top"][0]["top_percent"] <= 10
    assert rep["membership"]["reach_scored_by"] in ("ranking model score", "similarity")
    assert all(0 < p["share"] <= 1 for p in rep["membership"]["reach_curve"] if p["size"])
    code, out = cli("audiences", "retire", "Software buyers", "--tenant", slug)
    assert code == 0 and "is now retired" in out
    code, out = cli("seeds", "list", "--tenant", slug)
    assert code == 0 and fresh[0] in out
    code, out = cli("seeds", "remove", fresh[0], "--tenant", slug)
    assert code == 0 and "1 seed(s) removed" in out


def test_cli_errors_are_clear(owner, cli_env, conn, new_slug, tmp_path):
    t = load_tenant(owner, tenant_profile(1, new_slug("clierr")), 50, pool_size=10)
    code, out = cli("seeds", "add", "no-such-lead", "--tenant", t.slug)
    assert code == 1 and "not a lead of this tenant: no-such-lead" in out
    code, out = cli("audiences", "create", "x", "--tenant", t.slug, "--rules", '{"filters": [{"field": "salary"')
    assert code == 2 and "not valid JSON" in out
    code, out = cli("audiences", "create", "x", "--tenant", t.slug, "--rules",
                    '{"filters": [{"field": "salary", "op": "gt", "value": 1}]}')
    assert code == 2 and "unknown field 'salary'" in out
    code, out = cli("audiences", "show", "nope", "--tenant", t.slug)
    assert code == 2 and "no audience 'nope'" in out
    code, out = cli("seeds", "list", "--tenant", "no-such-tenant")
    assert code != 0 and "no tenant" in out
    code, out = cli("tenants", "create", "Bad Slug!")
    assert code == 2 and "invalid slug" in out
    f = tmp_path / "l.csv"
    f.write_text("id,industry\nx1,software\n,retail\n")
    code, out = cli("import-leads", str(f), "--tenant", t.slug, "--id-column", "id", "--rejects", str(tmp_path / "r.csv"))
    assert code == 1 and "1 inserted" in out and "1 rejected" in out and "missing id" in out  # a part failed
    assert "missing id" in (tmp_path / "r.csv").read_text()
    code, out = cli("import-leads", str(f), "--tenant", t.slug, "--numeric", "revenue")
    assert code == 2 and "not in the file: revenue" in out


def test_import_dry_run_prints_the_mapping_and_the_spec(owner, cli_env, conn, new_slug, tmp_path):
    from lookalike_assets.db import admin as db_admin

    slug = new_slug("dry")
    db_admin.create_tenant(owner, slug, "Dry")
    f = tmp_path / "crm.csv"
    f.write_text("crm_id,email,first_name,last_name,job_title,employees,notes\n"
                 + "".join(f"C{i},p{i}@x{i % 7}.com,Ann{i % 5},Lee{i % 9},CFO,{i + 3},\"Met at a summit about "
                           f"reporting automation, follow up {i}\"\n" for i in range(60)))
    code, out = cli("leads", "import", str(f), "--tenant", slug, "--dry-run")
    assert code == 0, out
    assert "column mapping" in out and "crm_id" in out and "id (upsert key)" in out
    assert "email (personal data)" in out and "lead field title" in out and "lead field company_size" in out
    assert "dry run, nothing was written: 60 rows: 60 to insert" in out
    assert "feature spec" in out and "notes" in out.split("feature spec")[-1]
    # issue 33 §13: a dry run with a rejected row writes no rejects file unless asked (it said "nothing was
    # written" and wrote one)
    from lookalike_assets.settings import get_settings

    bad = tmp_path / "bad.csv"
    bad.write_text(f.read_text() + "C1,dup@x.com,Ann,Lee,CFO,5,again\n")
    before = set((get_settings().home / "rejects").glob("*"))
    code, out = cli("leads", "import", str(bad), "--tenant", slug, "--dry-run")
    assert code == 0 and "1 rejected" in out and "--rejects FILE" in out, out
    assert set((get_settings().home / "rejects").glob("*")) == before
    asked = tmp_path / "rejects.csv"
    code, out = cli("leads", "import", str(bad), "--tenant", slug, "--dry-run", "--rejects", str(asked))
    assert code == 0 and asked.exists() and "again" not in out.split(str(asked))[-1]
    code, out = cli("leads", "import", str(f), "--tenant", slug)
    assert code == 0 and "60 inserted" in out
    f.write_text("crm_id,segment\nC1,a\nC2,b\n")
    code, out = cli("leads", "import", str(f), "--tenant", slug)
    assert code == 2 and "--update-spec" in out and "new column 'segment'" in out


def test_materialize_shows_each_step_with_counts(owner, cli_env, conn, new_slug):
    from lookalike_assets.orchestration import materialize_tenants

    t = load_tenant(owner, tenant_profile(2, new_slug("prog")), 200, pool_size=50)
    events = []
    out = materialize_tenants([str(t.tenant_id)], on_event=events.append)
    assert out[0].success and out[0].what == t.slug
    started = [e.step for e in events if e.kind == "start"]
    # in graph order; the exports (after the segments) and the destination syncs (after the memberships) are
    # independent of each other
    assert started[:6] == ["lead_features", "lead_embeddings", "seed_profiles", "ranking_model", "candidate_pools",
                           "audience_memberships"]
    assert sorted(started[6:]) == ["audience_exports", "audience_segments", "destination_syncs"]
    assert started.index("audience_segments") < started.index("audience_exports")
    logs = [e.message for e in events if e.kind == "log" and e.step == "lead_embeddings"]
    assert any("embedded 200 of 200" in m and "/s" in m for m in logs), logs


def test_dbt_log_goes_to_a_file_and_one_line_to_the_screen(cli_env, two_tenants, capsys):
    from lookalike_assets.orchestration import materialize_marts

    o = materialize_marts()
    assert o.success, o.error
    assert o.dbt_summary and o.dbt_summary.startswith("PASS=") and "ERROR=0" in o.dbt_summary
    assert "Running with dbt" in o.log.read_text() and "START sql" in o.log.read_text()
    assert "START sql" not in capsys.readouterr().out
    # each mart's row count is on its materialization, though the test database is not the one the manifest was
    # prepared against (dagster-dbt's own row counts name that one and fail)
    from lookalike_assets.orchestration import get_instance

    ev = get_instance().get_latest_materialization_event(dg.AssetKey(["marts", "mart_embedding_coverage"]))
    assert ev.run_id == o.run_id
    with psycopg.connect(os.environ["LOOKALIKE_DATABASE_URL"]) as owner:
        # one row per tenant with leads (other tests leave tenants without any)
        tenants = owner.execute("select count(distinct tenant_id) from leads").fetchone()[0]
    assert ev.asset_materialization.metadata["dagster/row_count"].value == tenants >= 2


def test_importing_the_code_location_under_dagster_dev_runs_no_dbt(tmp_path):
    """`dagster dev` imports the definitions in every run process: that must not parse the dbt project."""
    import os
    import subprocess
    import sys

    from lookalike_assets.defs.analytics.dbt import dbt_project

    before = dbt_project.manifest_path.stat().st_mtime_ns
    env = {**os.environ, "DAGSTER_IS_DEV_CLI": "1", "DAGSTER_HOME": str(tmp_path)}
    res = subprocess.run([sys.executable, "-c", "import lookalike_assets.definitions"], env=env, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert dbt_project.manifest_path.stat().st_mtime_ns == before
    from lookalike_assets.definitions import defs

    for job in ("tenant_refresh", "ranking_retrain"):  # one process per run, not one per step
        assert defs.resolve_job_def(job).executor_def.name == "in_process"


def test_an_expected_skip_is_reported_once(owner, conn, new_slug, tmp_path, caplog):
    import logging

    from conftest import build_tenant

    from lookalike_assets.domain.exports import LocalFolderDestination
    from lookalike_assets.pipeline.exports import run_exports

    t = load_tenant(owner, tenant_profile(0, new_slug("once")), 200, pool_size=50)
    build_tenant(conn, t.tenant_id, 50, memberships=True)
    with caplog.at_level(logging.INFO, logger="lookalike"):
        results = run_exports(conn, t.tenant_id, LocalFolderDestination(tmp_path))
    assert any(r.status == "skipped" for r in results)  # linkedin needs 300
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], "the caller reports skips, not the pipeline"


def test_a_failed_export_fails_the_command(owner, cli_env, new_slug, tmp_path):
    """Every step succeeds but an export cannot be delivered: `lookalike materialize` says which and exits 1."""
    import os
    from pathlib import Path

    t = load_tenant(owner, tenant_profile(0, new_slug("expfail")), 300, pool_size=120)
    exports = Path(os.environ["LOOKALIKE_HOME"]) / "exports"
    exports.parent.mkdir(parents=True, exist_ok=True)
    exports.write_text("a file where the export folder should be")
    code, out = cli("materialize", "--tenant", t.slug)
    assert code == 1, out
    assert "audience_exports: check exports_delivered failed" in " ".join(out.split()), out
    assert "Lookalikes of won deals" in out


def test_poison_input_gets_a_reason_not_a_stack_trace(owner, cli_env, conn, new_slug, tmp_path):
    """Inputs that used to end in a stack trace: each is refused with its reason and a non-zero exit."""
    t = load_tenant(owner, tenant_profile(1, new_slug("poison")), 30, pool_size=10)
    code, out = cli("audiences", "create", "x", "--tenant", t.slug, "--rules", "@" + str(tmp_path / "missing.json"))
    assert code == 2 and "missing.json" in out and "Traceback" not in out
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    code, out = cli("audiences", "create", "x", "--tenant", t.slug, "--rules", "@" + str(deep))
    assert code == 2 and "nested too deeply" in out and "Traceback" not in out
    for bad in ("", "x" * 201):
        code, out = cli("audiences", "create", bad, "--tenant", t.slug)
        assert code == 2 and "1 to 200 characters" in out
    code, out = cli("tenants", "create", new_slug("ctl"), "--name", "Evil\x1b[2J Corp")
    assert code == 2 and "control characters" in out
    f = tmp_path / "leads.csv"
    f.write_text("id,company_size,title\nok1,12,CFO\nbig,99999999999999999999,CTO\nnul,5,bad\x00title\n")
    code, out = cli("leads", "import", str(f), "--tenant", t.slug)
    assert code == 1 and "1 inserted" in out and "2 rejected" in out, out
    assert "Traceback" not in out
