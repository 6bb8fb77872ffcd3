"""Tenant isolation: Row-Level Security on every table for every login, tenancy bound to who connects, and an
outside reviewer's probe as a tenant's own BI and application logins with a raw SQL console."""

from __future__ import annotations

import threading
import time
import uuid

import psycopg
import pytest

from lookalike_assets.db import admin as db_admin
from lookalike_assets.db.connect import (
    API_ROLE,
    APP_ROLE,
    BI_ROLE,
    CHANGES_ROLE,
    PIPELINE_ROLE,
    ConnectionRoleError,
    connect,
    tenant_transaction,
)
from lookalike_assets.db.queries import Q

TENANT_TABLES_SQL = """
select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
where n.nspname = 'public' and c.relkind in ('r', 'p') order by 1
"""
MART_TABLES_SQL = """
select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
where n.nspname = 'marts' and c.relkind = 'r' order by 1
"""


def tenant_tables(owner) -> list[str]:
    return [r[0] for r in owner.execute(TENANT_TABLES_SQL).fetchall()]


@pytest.fixture
def login(test_url):
    """Open a service login's connection; closed at the end."""
    opened = []

    def make(role):
        c = connect(test_url, role=role)
        opened.append(c)
        return c

    yield make
    for c in opened:
        c.close()


def test_every_tenant_table_has_rls_enabled_and_forced(owner):
    tables = tenant_tables(owner)
    assert {"tenants", "leads", "lead_embeddings", "lookalike_seed", "lookalike_audience", "lookalike_candidate",
            "lookalike_audience_member", "lookalike_conversion", "suppression_list", "lookalike_tenant_role",
            "lookalike_tenant_lease"} <= set(tables)
    rows = owner.execute("select relname, relrowsecurity, relforcerowsecurity from pg_class "
                         "where relname = any(%s) and relnamespace = 'public'::regnamespace", (tables,)).fetchall()
    assert len(rows) == len(tables)
    for name, enabled, forced in rows:
        assert enabled and forced, f"{name}: RLS enabled={enabled} forced={forced}"
    policies = {t: (q, w) for t, q, w in owner.execute(
        "select tablename, qual, with_check from pg_policies "
        "where schemaname = 'public' and policyname = 'tenant_isolation'").fetchall()}
    for t in tables:
        assert t in policies, f"{t} has no policy"
        assert "lookalike_current_tenant" in policies[t][0] and "lookalike_current_tenant" in policies[t][1]


def test_logins_are_not_privileged(owner):
    roles = [APP_ROLE, PIPELINE_ROLE, BI_ROLE, CHANGES_ROLE, API_ROLE, "lookalike_app_access", "lookalike_service"]
    rows = owner.execute("select rolname, rolsuper, rolbypassrls, rolcreaterole, rolcanlogin from pg_roles "
                         "where rolname = any(%s)", (roles,)).fetchall()
    assert len(rows) == len(roles)
    for name, sup, bypass, createrole, _login in rows:
        assert not sup and not bypass and not createrole, name
    assert {r[0]: r[4] for r in rows}[BI_ROLE] is False  # a group: tenants' BI logins are members
    owned = owner.execute("select count(*) from pg_tables where tableowner = any(%s)", (roles,)).fetchone()[0]
    assert owned == 0


@pytest.mark.parametrize("role", [APP_ROLE, PIPELINE_ROLE, API_ROLE])
def test_a_service_login_as_tenant_a_sees_nothing_of_tenant_b(owner, login, two_tenants, role):
    a, b = two_tenants
    c = login(role)
    seen_any = 0
    for t in tenant_tables(owner):
        try:
            with tenant_transaction(c, a.tenant_id, role):
                other = c.execute(f'select count(*) from "{t}" where tenant_id = %s', (b.tenant_id,)).fetchone()[0]
                foreign = c.execute(f'select count(*) from "{t}" where tenant_id <> %s', (a.tenant_id,)).fetchone()[0]
                seen_any += c.execute(f'select count(*) from "{t}"').fetchone()[0]
        except psycopg.errors.InsufficientPrivilege:
            continue  # the login may not read this table at all, which is stricter still
        assert other == 0 and foreign == 0, f"{role} as tenant A sees tenant B rows in {t}"
    assert seen_any > 0, "tenant A should see its own rows"


@pytest.mark.parametrize("role", [APP_ROLE, PIPELINE_ROLE, API_ROLE, CHANGES_ROLE])
def test_no_tenant_set_returns_no_rows(owner, login, two_tenants, role):
    c = login(role)
    for t in tenant_tables(owner):
        if t in ("lookalike_change_log", "lookalike_watermark") and role == CHANGES_ROLE:
            continue  # the change reader's whole job: tenant ids, counts and watermarks of every tenant
        try:
            with c.transaction():
                n = c.execute(f'select count(*) from "{t}"').fetchone()[0]
        except psycopg.errors.InsufficientPrivilege:
            continue
        assert n == 0, f"{role} with no tenant sees {n} rows of {t}"


def test_bi_reads_no_raw_table(owner, conn, two_tenants):
    a, _ = two_tenants
    for t in tenant_tables(owner):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            with tenant_transaction(conn, a.tenant_id, BI_ROLE):  # the pipeline narrowed to lookalike_bi
                conn.execute(f'select 1 from "{t}" limit 1')


@pytest.mark.parametrize("role", [APP_ROLE, PIPELINE_ROLE])
def test_no_insert_or_update_into_another_tenant(login, two_tenants, role):
    a, b = two_tenants
    c = login(role)
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
        with tenant_transaction(c, a.tenant_id, role):
            c.execute("insert into leads (tenant_id, external_id) values (%s, 'sneaky')", (b.tenant_id,))
    with tenant_transaction(c, a.tenant_id, role):
        assert c.execute("update leads set bio = 'hijacked' where tenant_id = %s", (b.tenant_id,)).rowcount == 0
        assert c.execute("delete from lookalike_seed where tenant_id = %s", (b.tenant_id,)).rowcount == 0
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
        with tenant_transaction(c, a.tenant_id, role):  # moving one's own row to another tenant (WITH CHECK)
            c.execute("update lookalike_audience set tenant_id = %s", (b.tenant_id,))


def test_tenant_work_never_runs_on_the_owner_connection(owner, two_tenants):
    a, _ = two_tenants
    for role in (APP_ROLE, PIPELINE_ROLE, None):
        with pytest.raises(ConnectionRoleError, match="logged in as postgres"):
            with tenant_transaction(owner, a.tenant_id, role):
                pass


def test_reset_role_inside_a_tenant_transaction_leads_nowhere(owner, login, two_tenants):
    """The old hole: tenant work ran on the owner's connection with SET LOCAL ROLE, and RESET ROLE read every
    tenant. Now it runs on a service login: there is nothing to reset to."""
    a, _ = two_tenants
    for role in (APP_ROLE, PIPELINE_ROLE):
        c = login(role)
        with tenant_transaction(c, a.tenant_id, role):
            c.execute("reset role")
            assert c.execute("select current_user").fetchone()[0] == role
            assert c.execute("select count(distinct tenant_id) from leads").fetchone()[0] == 1
        with tenant_transaction(c, a.tenant_id, BI_ROLE if role == PIPELINE_ROLE else role):
            c.execute("reset role")  # from the BI narrowing back to the pipeline: the same tenant
            assert c.execute("select count(distinct tenant_id) from leads").fetchone()[0] == 1


def test_tenant_does_not_outlive_the_transaction(login, two_tenants):
    a, _ = two_tenants
    c = login(APP_ROLE)
    with tenant_transaction(c, a.tenant_id, APP_ROLE):
        assert c.execute("select current_setting('app.current_tenant', true)").fetchone()[0] == str(a.tenant_id)
    with c.transaction():
        assert c.execute("select coalesce(current_setting('app.current_tenant', true), '')").fetchone()[0] == ""
        assert c.execute("select count(*) from leads").fetchone()[0] == 0


def test_foreign_keys_never_cross_tenants(owner, two_tenants):
    a, b = two_tenants
    with owner.transaction():
        b_lead = owner.execute("select lead_id from leads where tenant_id = %s limit 1", (b.tenant_id,)).fetchone()[0]
        b_cand = owner.execute("select candidate_id from lookalike_candidate where tenant_id = %s limit 1",
                               (b.tenant_id,)).fetchone()[0]
        b_aud = owner.execute("select audience_id from lookalike_audience where tenant_id = %s limit 1",
                              (b.tenant_id,)).fetchone()[0]
        a_aud = owner.execute("select audience_id from lookalike_audience where tenant_id = %s limit 1",
                              (a.tenant_id,)).fetchone()[0]
        a_lead = owner.execute("select lead_id from leads where tenant_id = %s limit 1", (a.tenant_id,)).fetchone()[0]
    attempts = [
        ("insert into lookalike_seed (tenant_id, lead_id, label) values (%s, %s, 'won')", (a.tenant_id, b_lead)),
        ("insert into lookalike_candidate (tenant_id, audience_id, lead_id, similarity_score, decile) "
         "values (%s, %s, %s, 0.5, 5)", (a.tenant_id, a_aud, b_lead)),
        ("insert into lookalike_audience_member (tenant_id, audience_id, candidate_id) values (%s, %s, %s)",
         (a.tenant_id, a_aud, b_cand)),
        ("insert into lookalike_conversion (tenant_id, event_id, lead_id, audience_id, event_type, occurred_at) "
         "values (%s, 'x', %s, %s, 'reply', now())", (a.tenant_id, a_lead, b_aud)),
    ]
    # even the owner (who bypasses Row-Level Security) cannot: the foreign keys are composite on the tenant
    for sql, params in attempts:
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            with owner.transaction():
                owner.execute(sql, params)


# Columns that record what a row was at the time, on purpose without a foreign key (the row they named may be gone):
# written only from the same tenant's rows under Row-Level Security, and joined on (tenant_id, column) by the marts.
HISTORY = {("lookalike_conversion_fact", "candidate_id")}


def test_every_reference_between_tenant_tables_has_a_composite_foreign_key(owner):
    """Each `*_id` column that names a row of another tenant table is covered by a foreign key on
    (tenant_id, that column)."""
    keys = {}  # id column -> the tenant table whose own key it is
    for table, col in owner.execute(
            "select c.conrelid::regclass::text, a.attname from pg_constraint c "
            "join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[2] "
            "where c.contype = 'p' and array_length(c.conkey, 1) = 2 "
            "and c.conrelid::regclass::text = any(%s)", (tenant_tables(owner),)).fetchall():
        keys.setdefault(col, table)
    fks = {(t, cols) for t, cols in owner.execute(
        "select conrelid::regclass::text, array(select attname from pg_attribute where attrelid = conrelid "
        "and attnum = any(conkey) order by attname)::text[] from pg_constraint where contype = 'f'").fetchall()
           for cols in [tuple(cols)]}
    missing = []
    for table in tenant_tables(owner):
        cols = [r[0] for r in owner.execute("select attname from pg_attribute where attrelid = %s::regclass "
                                            "and attnum > 0 and not attisdropped and attname like '%%\\_id'",
                                            (table,)).fetchall()]
        for col in cols:
            target = keys.get(col)
            if col == "tenant_id" or target is None or target == table or (table, col) in HISTORY:
                continue
            if not any(t == table and set(c) >= {"tenant_id", col} for t, c in fks):
                missing.append(f"{table}.{col} -> {target}")
    assert not missing, missing


def test_tenant_id_must_be_a_uuid(owner, conn):
    from lookalike_assets.db.connect import TenantError

    with pytest.raises(TenantError, match="not a UUID"):
        with tenant_transaction(conn, "acme'; drop table leads; --"):
            pass
    assert owner.execute("select to_regclass('leads')").fetchone()[0] is not None
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


# ---------------------------------------------------------------------------------------------------------
# A tenant's own logins, probed as an outside reviewer would with a raw SQL console


@pytest.fixture(scope="module")
def bound(test_url, two_tenants):
    """A BI and an application login of tenant A, and a BI login of tenant B."""
    a, b = two_tenants
    own = connect(test_url)
    logins = {"a_bi": db_admin.grant_access(own, a.tenant_id, "bi", "probe"),
              "a_app": db_admin.grant_access(own, a.tenant_id, "app", "probe"),
              "b_bi": db_admin.grant_access(own, b.tenant_id, "bi", "probe")}
    yield {k: v.conninfo(test_url) for k, v in logins.items()}
    for v in logins.values():
        try:
            db_admin.revoke_access(own, v.role)
        except db_admin.AdminError:
            pass
    own.close()


def _console(conninfo):
    return psycopg.connect(conninfo, autocommit=True)


ESCAPES = [
    "set app.current_tenant = '{b}'",
    "select set_config('app.current_tenant', '{b}', false)",
    "set role lookalike_bi",
    "set role lookalike_app_access",
    "reset role",
]


def _rows_of(c, relation: str, b) -> int:
    try:
        return c.execute(f"select count(*) from {relation} where tenant_id = %s", (b,)).fetchone()[0]
    except psycopg.errors.InsufficientPrivilege:
        return 0


def test_a_bound_bi_login_reads_its_tenant_only_whatever_it_sets(owner, marts_built, bound, two_tenants):
    a, b = two_tenants
    marts = [r[0] for r in owner.execute(MART_TABLES_SQL).fetchall()]
    assert "mart_audience_summary" in marts
    with _console(bound["a_bi"]) as c:
        own = c.execute("select count(*), count(distinct tenant_id) from marts.mart_audience_summary").fetchone()
        assert own[0] > 0 and own[1] == 1
        for escape in ESCAPES:
            try:
                c.execute(escape.format(b=b.tenant_id))
            except psycopg.errors.InsufficientPrivilege:
                continue
            for m in marts:
                assert _rows_of(c, f"marts.{m}", b.tenant_id) == 0, (escape, m)
                foreign = c.execute(f"select count(*) from marts.{m} where tenant_id <> %s", (a.tenant_id,)).fetchone()
                assert foreign[0] == 0, (escape, m)
        c.execute("reset role")
        for t in tenant_tables(owner):  # no raw table at all
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                with c.transaction():
                    c.execute(f'select 1 from public."{t}" limit 1')
        for forbidden in ("set session authorization postgres", "set role lookalike_pipeline",
                          "set role postgres", "select * from lookalike_tenant_role"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                with c.transaction():
                    c.execute(forbidden)
        # a temporary function or EXPLAIN reads no more than the login may
        with c.transaction():
            c.execute("create function pg_temp.peek() returns bigint language sql as "
                      "$$ select count(*) from marts.mart_audience_summary $$")
            assert c.execute("select pg_temp.peek()").fetchone()[0] == own[0]
            plan = "\n".join(r[0] for r in c.execute(
                "explain (analyze, costs off) select * from marts.mart_audience_summary").fetchall())
        assert f"rows={own[0]}" in plan.replace(" ", "") or "actual rows" in plan


def test_a_bound_app_login_reads_and_writes_its_tenant_only(owner, bound, two_tenants):
    a, b = two_tenants
    with _console(bound["a_app"]) as c:
        for escape in ESCAPES:
            try:
                c.execute(escape.format(b=b.tenant_id))
            except psycopg.errors.InsufficientPrivilege:
                continue
            for t in tenant_tables(owner):
                assert _rows_of(c, f'public."{t}"', b.tenant_id) == 0, (escape, t)
        c.execute("reset role")
        assert c.execute("select count(distinct tenant_id) from leads").fetchone()[0] == 1
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            with c.transaction():
                c.execute("insert into leads (tenant_id, external_id) values (%s, 'sneaky')", (b.tenant_id,))
        for hidden in ("lookalike_tenant_lease", "lookalike_change_log", "lookalike_tenant_role"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                with c.transaction():
                    c.execute(f"select 1 from {hidden}")
        # ANALYZE reads every tenant's rows: the platform's own logins only
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            with c.transaction():
                c.execute("select lookalike_analyze('leads')")


def test_one_tenants_login_cannot_read_another_sessions_query(bound, two_tenants, login):
    _a, b = two_tenants
    marker = f"secret-of-{b.tenant_id}"
    other = _console(bound["b_bi"])
    pipe = login(PIPELINE_ROLE)
    done = threading.Event()

    def busy(c, text):
        try:
            c.execute(f"select pg_sleep(3), '{text}'")
        finally:
            done.set()

    threads = [threading.Thread(target=busy, args=(other, marker)),
               threading.Thread(target=busy, args=(pipe, marker))]
    for t in threads:
        t.start()
    try:
        time.sleep(0.8)
        with _console(bound["a_bi"]) as c:
            rows = c.execute("select usename, query from pg_stat_activity where usename is not null").fetchall()
        seen = {u: q for u, q in rows if u in (PIPELINE_ROLE,) or u.startswith("lk_")}
        assert any(u.startswith("lk_") for u in seen), rows
        assert not [q for q in (r[1] or "" for r in rows) if marker in q], "another session's query text is visible"
    finally:
        for t in threads:
            t.join()
        other.close()


def test_nobody_but_the_pipeline_can_take_or_see_a_tenants_lease(bound, two_tenants, login):
    """The old hole: any role could take the pipeline's advisory lock and block a tenant's runs."""
    from lookalike_assets.db import locks

    a, _ = two_tenants
    with _console(bound["a_app"]) as c:
        c.execute("select pg_advisory_lock(hashtextextended('lookalike:tenant:' || %s, 0))", (str(a.tenant_id),))
        pipe = login(PIPELINE_ROLE)
        lease = locks.acquire(pipe, a.tenant_id, "probe-run", wait_seconds=0)  # not blocked
        locks_seen = c.execute("select count(*) from pg_locks where locktype = 'advisory' "
                               "and pid <> pg_backend_pid()").fetchone()[0]
        assert locks_seen == 0  # a run holds no lock anyone can observe
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            with c.transaction():
                c.execute("insert into lookalike_tenant_lease (tenant_id, run_id, horizon) values (%s, 'x', '1')",
                          (a.tenant_id,))
        locks.release(pipe, lease)


def test_a_revoked_login_cannot_connect(test_url, owner, two_tenants):
    a, _ = two_tenants
    login = db_admin.grant_access(owner, a.tenant_id, "bi", "short-lived")
    with _console(login.conninfo(test_url)) as c:
        assert c.execute("select 1").fetchone()[0] == 1
    db_admin.revoke_access(owner, login.role)
    with pytest.raises(psycopg.OperationalError):
        _console(login.conninfo(test_url)).close()
    assert login.role not in [x.role for x in db_admin.list_access(owner)]


def test_the_change_reader_sees_nothing_else(login):
    c = login(CHANGES_ROLE)
    for table in ("leads", "lead_embeddings", "tenants", "lookalike_seed", "lookalike_audience"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            with c.transaction():
                c.execute(f"select 1 from {table} limit 1")
    with c.transaction():
        cols = [d.name for d in c.execute("select * from lookalike_change_log limit 1").description]
    assert set(cols) == {"seq", "tenant_id", "entity", "op", "row_count", "changed_at", "xid", "event_day", "actor"}
    assert Q.changes.change_horizon(c)


def test_login_names_say_nothing_of_their_tenant(owner, two_tenants):
    """Every login can read pg_roles: the bound logins' names must not name the tenant or what the login is."""
    a, _ = two_tenants
    login = db_admin.grant_access(owner, a.tenant_id, "bi", "names")
    try:
        assert login.role.startswith("lk_") and len(login.role) == 23
        for part in [a.slug, a.slug.replace("-", "_"), *(w for w in a.slug.split("-") if len(w) >= 3), "bi", "app"]:
            assert part not in login.role.removeprefix("lk_"), (part, login.role)
        listed = {x.role: x for x in db_admin.list_access(owner, a.tenant_id)}
        assert listed[login.role].tenant_id == str(a.tenant_id) and listed[login.role].kind == "bi"
    finally:
        db_admin.revoke_access(owner, login.role)
