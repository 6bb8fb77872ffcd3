"""Row-Level Security and roles: as tenant A, nothing of tenant B, in every table, for every role."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from lookalike_assets.db.connect import APP_ROLE, BI_ROLE, PIPELINE_ROLE, tenant_transaction
from lookalike_assets.db.queries import Q

TENANT_TABLES_SQL = """
select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
where n.nspname = 'public' and c.relkind in ('r', 'p') order by 1
"""


def tenant_tables(conn) -> list[str]:
    return [r[0] for r in conn.execute(TENANT_TABLES_SQL).fetchall()]


def test_every_tenant_table_has_rls_enabled_and_forced(conn):
    tables = tenant_tables(conn)
    assert {"tenants", "leads", "lead_embeddings", "lookalike_seed", "lookalike_audience", "lookalike_candidate",
            "lookalike_audience_member", "lookalike_conversion", "suppression_list"} <= set(tables)
    rows = conn.execute(
        "select relname, relrowsecurity, relforcerowsecurity from pg_class where relname = any(%s)", (tables,)
    ).fetchall()
    assert len(rows) == len(tables)
    for name, enabled, forced in rows:
        assert enabled and forced, f"{name}: RLS enabled={enabled} forced={forced}"
    policies = conn.execute(
        "select tablename, qual, with_check from pg_policies "
        "where schemaname = 'public' and policyname = 'tenant_isolation'"
    ).fetchall()
    by_table = {t: (q, w) for t, q, w in policies}
    for t in tables:
        assert t in by_table, f"{t} has no policy"
        qual, check = by_table[t]
        assert "lookalike_current_tenant" in qual and "lookalike_current_tenant" in check


def test_roles_are_not_privileged(conn):
    rows = conn.execute(
        "select rolname, rolsuper, rolbypassrls from pg_roles where rolname = any(%s)",
        ([APP_ROLE, PIPELINE_ROLE, BI_ROLE],),
    ).fetchall()
    assert len(rows) == 3
    for name, sup, bypass in rows:
        assert not sup and not bypass, name
    owned = conn.execute(
        "select count(*) from pg_tables where tableowner = any(%s)", ([APP_ROLE, PIPELINE_ROLE, BI_ROLE],)
    ).fetchone()[0]
    assert owned == 0


@pytest.mark.parametrize("role", [APP_ROLE, PIPELINE_ROLE])
def test_tenant_sees_nothing_of_another_tenant(conn, two_tenants, role):
    a, b = two_tenants
    tables = tenant_tables(conn)
    with tenant_transaction(conn, a.tenant_id, role):
        seen_any = 0
        for t in tables:
            try:
                with conn.transaction():
                    other = conn.execute(f'select count(*) from "{t}" where tenant_id = %s', (b.tenant_id,)).fetchone()[0]
                    total_foreign = conn.execute(f'select count(*) from "{t}" where tenant_id <> %s',
                                                 (a.tenant_id,)).fetchone()[0]
                    seen_any += conn.execute(f'select count(*) from "{t}"').fetchone()[0]
            except psycopg.errors.InsufficientPrivilege:
                continue  # the role may not read this table at all, which is stricter still
            assert other == 0 and total_foreign == 0, f"{role} as tenant A sees tenant B rows in {t}"
        assert seen_any > 0, "tenant A should see its own rows"


@pytest.mark.parametrize("role", [APP_ROLE, PIPELINE_ROLE, BI_ROLE])
def test_no_tenant_set_returns_no_rows(conn, two_tenants, role):
    for t in tenant_tables(conn):
        with conn.transaction():
            Q.set_role(conn, role=role)
            try:
                with conn.transaction():
                    n = conn.execute(f'select count(*) from "{t}"').fetchone()[0]
            except psycopg.errors.InsufficientPrivilege:
                continue
            assert n == 0, f"{role} with no tenant sees {n} rows of {t}"


def test_bi_role_reads_no_raw_table(conn, two_tenants):
    a, _ = two_tenants
    for t in tenant_tables(conn):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            with tenant_transaction(conn, a.tenant_id, BI_ROLE):
                conn.execute(f'select 1 from "{t}" limit 1')


@pytest.mark.parametrize("role", [APP_ROLE, PIPELINE_ROLE])
def test_no_insert_or_update_into_another_tenant(conn, two_tenants, role):
    a, b = two_tenants
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
        with tenant_transaction(conn, a.tenant_id, role):
            conn.execute("insert into leads (tenant_id, external_id) values (%s, 'sneaky')", (b.tenant_id,))
    with tenant_transaction(conn, a.tenant_id, role):
        cur = conn.execute("update leads set bio = 'hijacked' where tenant_id = %s", (b.tenant_id,))
        assert cur.rowcount == 0
        cur = conn.execute("delete from lookalike_seed where tenant_id = %s", (b.tenant_id,))
        assert cur.rowcount == 0
    # moving one's own row into another tenant is refused too (WITH CHECK)
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
        with tenant_transaction(conn, a.tenant_id, role):
            conn.execute("update lookalike_audience set tenant_id = %s", (b.tenant_id,))
    with tenant_transaction(conn, b.tenant_id, PIPELINE_ROLE):
        assert conn.execute("select count(*) from leads where bio = 'hijacked'").fetchone()[0] == 0


def test_tenant_and_role_do_not_outlive_the_transaction(conn, two_tenants):
    a, _ = two_tenants
    with tenant_transaction(conn, a.tenant_id, APP_ROLE):
        assert Q.current_role(conn) == APP_ROLE
        assert conn.execute("select current_setting('app.current_tenant', true)").fetchone()[0] == str(a.tenant_id)
    with conn.transaction():
        assert conn.execute("select coalesce(current_setting('app.current_tenant', true), '')").fetchone()[0] == ""
        assert Q.current_role(conn) != APP_ROLE


def test_seed_pointing_at_another_tenants_lead_is_rejected(conn, two_tenants):
    a, b = two_tenants
    with tenant_transaction(conn, b.tenant_id, PIPELINE_ROLE):
        b_lead = conn.execute("select lead_id from leads limit 1").fetchone()[0]
    # Even the owner (who bypasses RLS) cannot: the composite foreign key (tenant_id, lead_id) refuses it.
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        with conn.transaction():
            conn.execute("insert into lookalike_seed (tenant_id, lead_id, label) values (%s, %s, 'won')",
                         (a.tenant_id, b_lead))
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        with tenant_transaction(conn, a.tenant_id, APP_ROLE):
            conn.execute("insert into lookalike_seed (tenant_id, lead_id, label) values (%s, %s, 'won')",
                         (a.tenant_id, b_lead))


def test_candidate_and_member_cannot_cross_tenants(conn, two_tenants):
    a, b = two_tenants
    with conn.transaction():
        a_aud = conn.execute("select audience_id from lookalike_audience where tenant_id = %s limit 1",
                             (a.tenant_id,)).fetchone()[0]
        b_lead = conn.execute("select lead_id from leads where tenant_id = %s limit 1", (b.tenant_id,)).fetchone()[0]
        b_cand = conn.execute("select candidate_id from lookalike_candidate where tenant_id = %s limit 1",
                              (b.tenant_id,)).fetchone()[0]
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        with conn.transaction():
            conn.execute("insert into lookalike_candidate (tenant_id, audience_id, lead_id, similarity_score, decile) "
                         "values (%s, %s, %s, 0.5, 5)", (a.tenant_id, a_aud, b_lead))
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        with conn.transaction():
            conn.execute("insert into lookalike_audience_member (tenant_id, audience_id, candidate_id) "
                         "values (%s, %s, %s)", (a.tenant_id, a_aud, b_cand))


def test_tenant_id_must_be_a_uuid(conn):
    from lookalike_assets.db.connect import TenantError

    with pytest.raises(TenantError, match="not a UUID"):
        with tenant_transaction(conn, "acme'; drop table leads; --"):
            pass
    assert conn.execute("select to_regclass('leads')").fetchone()[0] is not None
    with tenant_transaction(conn, uuid.uuid4(), APP_ROLE):
        assert conn.execute("select count(*) from leads").fetchone()[0] == 0


def test_tenant_transaction_refuses_to_nest(conn, two_tenants):
    from lookalike_assets.db.connect import NestedTenantTransactionError

    a, b = two_tenants
    with conn.transaction():
        with pytest.raises(NestedTenantTransactionError):
            with tenant_transaction(conn, a.tenant_id, APP_ROLE):
                pass
    with tenant_transaction(conn, a.tenant_id, APP_ROLE):
        with pytest.raises(NestedTenantTransactionError):
            with tenant_transaction(conn, b.tenant_id, APP_ROLE):
                pass
