"""dbt against the real database: build with all tests, marts tenant-isolated after every rebuild."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from conftest import REPO

from lookalike_assets.db.connect import BI_ROLE, dbt_env, tenant_transaction

DBT = str(Path(sys.executable).parent / "dbt")


def dbt(test_url, *args):
    env = {**os.environ, **dbt_env(test_url)}
    return subprocess.run([DBT, *args, "--project-dir", str(REPO / "dbt_project"),
                           "--profiles-dir", str(REPO / "dbt_project")],
                          env=env, capture_output=True, text=True, cwd=REPO / "dbt_project")


@pytest.fixture(scope="module")
def built(test_url, two_tenants):
    from lookalike_assets.db.connect import connect
    from lookalike_assets.pipeline.conversions import rebuild_facts, simulate_demo_conversions

    c = connect(test_url)
    days = set()
    for t in two_tenants:
        days |= simulate_demo_conversions(c, t.tenant_id).days
    rebuild_facts(c, [str(t.tenant_id) for t in two_tenants], sorted(days))
    c.close()
    res = dbt(test_url, "build")
    assert res.returncode == 0, res.stdout[-4000:]
    return res


def marts(conn):
    return [r[0] for r in conn.execute(
        "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = 'marts' and c.relkind = 'r'").fetchall()]


def test_dbt_build_passes_every_test(built):
    assert "ERROR=0" in built.stdout and "PASS=" in built.stdout


def test_marts_are_tenant_isolated_after_rebuild(test_url, conn, built, two_tenants):
    res = dbt(test_url, "build", "--select", "marts")
    assert res.returncode == 0, res.stdout[-3000:]
    a, b = two_tenants
    names = marts(conn)
    assert "mart_embedding_coverage" in names
    for m in names:
        enabled, forced = conn.execute("select relrowsecurity, relforcerowsecurity from pg_class c "
                                       "join pg_namespace n on n.oid = c.relnamespace "
                                       "where n.nspname = 'marts' and relname = %s", (m,)).fetchone()
        assert enabled and forced, m
        with tenant_transaction(conn, a.tenant_id, BI_ROLE):
            rows = conn.execute(f"select tenant_id from marts.{m}").fetchall()
        assert rows and {r[0] for r in rows} == {a.tenant_id}, m
        with conn.transaction():
            conn.execute("select set_config('role', %s, true)", (BI_ROLE,))
            assert conn.execute(f"select count(*) from marts.{m}").fetchone()[0] == 0


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
