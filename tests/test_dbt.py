"""dbt against the real database: build with all tests, marts tenant-isolated after every rebuild."""

from __future__ import annotations

from datetime import datetime, timezone

import psycopg
import pytest
from conftest import dbt

from lookalike_assets.db.connect import BI_ROLE, tenant_transaction
from lookalike_assets.pipeline import health


@pytest.fixture(scope="module")
def built(marts_built):
    return marts_built


def marts(conn):
    return [r[0] for r in conn.execute(
        "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = 'marts' and c.relkind = 'r'").fetchall()]


def test_dbt_build_passes_every_test(built):
    assert "ERROR=0" in built.stdout and "PASS=" in built.stdout


def test_marts_are_tenant_isolated_after_rebuild(owner, test_url, conn, built, two_tenants):
    a, b = two_tenants
    for t in (a, b):  # a step of each tenant in the step log (the fixture built them outside Dagster)
        health.record_step(conn, t.tenant_id, run_id="isolation", asset="lead_features",
                           started_at=datetime.now(timezone.utc), seconds=1.0, metadata={"changed": 3},
                           rows_key="changed")
    res = dbt(test_url, "build", "--select", "marts")
    assert res.returncode == 0, res.stdout[-3000:]
    names = marts(conn)
    assert "mart_embedding_coverage" in names
    for m in names:
        enabled, forced = conn.execute("select relrowsecurity, relforcerowsecurity from pg_class c "
                                       "join pg_namespace n on n.oid = c.relnamespace "
                                       "where n.nspname = 'marts' and relname = %s", (m,)).fetchone()
        assert enabled and forced, m
        seen = set()
        for t in (a, b):  # each tenant reads its own rows only (a holdout's mart has rows of tenant B's only)
            with tenant_transaction(conn, t.tenant_id, BI_ROLE):
                rows = {r[0] for r in conn.execute(f"select tenant_id from marts.{m}")}
            assert rows <= {t.tenant_id}, m
            seen |= rows
        assert a.tenant_id in seen or m == "mart_audience_incrementality", m
        assert seen, m
        with owner.transaction():
            owner.execute("select set_config('role', %s, true)", (BI_ROLE,))
            assert owner.execute(f"select count(*) from marts.{m}").fetchone()[0] == 0


def test_staging_views_run_as_the_reader(conn, built):
    rows = conn.execute("select c.relname, c.reloptions from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                        "where n.nspname in ('staging', 'intermediate') and c.relkind = 'v'").fetchall()
    assert rows
    for name, opts in rows:
        assert opts and "security_invoker=on" in opts, name


def test_bi_cannot_read_staging_or_raw(conn, built, two_tenants):
    a, _ = two_tenants
    for rel in ("staging.stg_leads", "public.leads", "public.lead_embeddings"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            with tenant_transaction(conn, a.tenant_id, BI_ROLE):
                conn.execute(f"select 1 from {rel} limit 1")


def test_every_source_model_and_mart_column_is_described(built):
    """dbt as a dbt user expects it: a description for every source table, model and column, freshness where a
    table has a load time, the exposures of the BI starter and the report, one naming scheme for marts."""
    import json

    from conftest import REPO

    manifest = json.loads((REPO / "dbt_project" / "target" / "manifest.json").read_text())
    missing = []
    for node in [*manifest["nodes"].values(), *manifest["sources"].values()]:
        if node["resource_type"] not in ("model", "source"):
            continue
        if not node.get("description"):
            missing.append(node["unique_id"])
        if node["resource_type"] == "model":
            for col, spec in node["columns"].items():
                if not spec.get("description"):
                    missing.append(f"{node['unique_id']}.{col}")
    assert not missing, missing
    marts = [n["name"] for n in manifest["nodes"].values() if n["resource_type"] == "model"
             and n["fqn"][1] == "marts"]
    assert marts and all(m.startswith("mart_") for m in marts), marts
    sources = {n["name"]: n for n in manifest["sources"].values()}
    assert sources["lookalike_conversion"]["loaded_at_field"] == "received_at"
    assert sources["lead_embeddings"]["freshness"]["warn_after"]["count"] == 2
    exposures = {e["name"]: e for e in manifest["exposures"].values()}
    assert {"audience_performance_dashboard", "performance_report"} <= set(exposures)


def test_dbt_docs_are_generated(cli_env, built):
    from conftest import REPO, cli

    code, out = cli("docs", "--no-serve")
    assert code == 0, out
    assert (REPO / "dbt_project" / "target" / "catalog.json").exists()
