"""dbt against the real database: build with all tests, marts tenant-isolated after every rebuild."""

from __future__ import annotations

import psycopg
import pytest
from conftest import dbt

from lookalike_assets.db.connect import BI_ROLE, tenant_transaction


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
