"""Issue 31 §1: no tenant can stall another. Each attack of the outside review, from a raw SQL console with a
tenant's bound login: the strongest lock it can take on the tables it writes, a BI session holding a mart open
while the marts build swaps it, and a tenant's logins filling the server's connections. Another tenant's work goes
on within seconds (the issue's bar: 60 s)."""

from __future__ import annotations

import os
import subprocess
import threading
import time

import psycopg
import pytest
from conftest import REPO, cli

from lookalike_assets.db import admin as db_admin

# the tables a tenant's app login writes (migration 0020: column-level UPDATE, INSERT, no table-level UPDATE or DELETE)
APP_TABLES = ("leads", "lookalike_audience", "lookalike_seed", "lookalike_conversion", "suppression_list",
              "lookalike_destination", "lookalike_column_meaning", "lookalike_conversion_quarantine",
              "tenant_feature_spec")
BLOCKING_MODES = ("SHARE UPDATE EXCLUSIVE", "SHARE", "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE")


def login_conn(login, test_url, **kw) -> psycopg.Connection:
    return psycopg.connect(login.conninfo(test_url), **kw)


def test_no_tenant_group_holds_a_privilege_that_takes_a_blocking_lock(owner):
    """LOCK TABLE in SHARE mode or stronger needs table-level UPDATE, DELETE or TRUNCATE: no tenant group has one
    on any table (a future migration that grants one fails here); the platform's logins keep them."""
    held = owner.execute("""select grantee, table_schema || '.' || table_name, privilege_type
                            from information_schema.table_privileges
                            where grantee in ('lookalike_app_access', 'lookalike_bi')
                              and privilege_type in ('UPDATE', 'DELETE', 'TRUNCATE')""").fetchall()
    assert held == []
    for role in ("lookalike_app", "lookalike_api"):
        assert owner.execute("select has_table_privilege(%s, 'lookalike_seed', 'DELETE')", (role,)).fetchone()[0]


def test_an_app_login_holding_its_strongest_locks_does_not_stall_another_tenant(owner, two_tenants, test_url,
                                                                                cli_env):
    a, b = two_tenants
    la = db_admin.grant_access(owner, a.tenant_id, "app", "stall probe")
    lb = db_admin.grant_access(owner, b.tenant_id, "app", "victim")
    try:
        with login_conn(la, test_url) as ca:
            for table in APP_TABLES:
                for mode in BLOCKING_MODES:
                    with pytest.raises(psycopg.errors.InsufficientPrivilege):
                        with ca.transaction():
                            ca.execute(f"lock table {table} in {mode} mode")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                with ca.transaction():
                    ca.execute("delete from lookalike_seed")
            # what it may still do to its own rows: update them (a seed removed by its deleted_at)
            with ca.transaction():
                ca.execute("update lookalike_seed set weight = weight")
            # the strongest it can hold: ROW EXCLUSIVE on every table it writes and its rows locked, in a
            # transaction left open with no timeout of its own
            ca.execute("set idle_in_transaction_session_timeout = 0")
            ca.execute("set statement_timeout = 0")
            ca.execute("begin")
            for table in APP_TABLES:
                ca.execute(f"lock table {table} in row exclusive mode")
            ca.execute("select 1 from leads for update").fetchall()
            ca.execute("select 1 from lookalike_seed for update").fetchall()
            # B reads and writes at once: its login, and the CLI's service login adding a seed
            t0 = time.monotonic()
            with login_conn(lb, test_url) as cb:
                cb.execute("set lock_timeout = '10s'")
                n = cb.execute("select count(*) from leads").fetchone()[0]
                cb.execute("update lookalike_audience set description = description")
            assert n > 0 and time.monotonic() - t0 < 10
            lead = owner.execute("select external_id from leads where tenant_id = %s and lead_id not in "
                                 "(select lead_id from lookalike_seed where tenant_id = %s) limit 1",
                                 (b.tenant_id, b.tenant_id)).fetchone()[0]
            t0 = time.monotonic()
            code, out = cli("seeds", "add", "--tenant", b.slug, "--label", "won", lead)
            assert code == 0, out
            assert time.monotonic() - t0 < 60
            ca.execute("rollback")
    finally:
        db_admin.revoke_access(owner, la.role)
        db_admin.revoke_access(owner, lb.role)


def test_a_bi_session_holding_a_mart_open_stalls_neither_the_marts_build_nor_other_readers(owner, marts_built,
                                                                                           two_tenants, test_url,
                                                                                           cli_env):
    """A's BI login reads a mart and leaves its transaction open (its own timeouts off); `lookalike marts` runs:
    the build ends that session after a short grace instead of waiting on it, and B's BI login keeps reading the
    mart (it would otherwise queue behind the build's pending swap)."""
    a, b = two_tenants
    la = db_admin.grant_access(owner, a.tenant_id, "bi", "holder")
    lb = db_admin.grant_access(owner, b.tenant_id, "bi", "reader")
    try:
        ca = login_conn(la, test_url)
        ca.execute("set idle_in_transaction_session_timeout = 0")
        ca.execute("begin")
        ca.execute("select count(*) from marts.mart_audience_summary").fetchone()
        env = {**os.environ}
        build = subprocess.Popen([str(REPO / ".venv" / "bin" / "lookalike") if (REPO / ".venv" / "bin" / "lookalike")
                                  .exists() else "lookalike", "marts"], env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True, cwd=REPO)
        waits: list[float] = []
        stop = threading.Event()

        def read() -> None:
            with login_conn(lb, test_url, autocommit=True) as cb:
                while not stop.is_set():
                    t0 = time.monotonic()
                    cb.execute("select count(*) from marts.mart_audience_summary").fetchone()
                    waits.append(time.monotonic() - t0)
                    time.sleep(0.2)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            out, _ = build.communicate(timeout=600)
        finally:
            stop.set()
            reader.join(timeout=60)
        assert build.returncode == 0, out[-3000:]
        assert waits and max(waits) < 30, max(waits or [0])
        # the holder's session was ended (it held what the build had to swap)
        with pytest.raises(psycopg.OperationalError):
            ca.execute("select 1").fetchone()
        ca.close()
    finally:
        db_admin.revoke_access(owner, la.role)
        db_admin.revoke_access(owner, lb.role)


def test_a_tenant_s_logins_share_a_connection_budget_and_carry_session_limits(owner, two_tenants, test_url,
                                                                              monkeypatch, cli_env):
    """A tenant's logins together hold at most LOOKALIKE_TENANT_CONNECTIONS; each login has the timeouts; the
    platform's logins may use the reserved connections. With A's logins at their limit, B's CLI works."""
    from lookalike_assets.settings import get_settings

    a, b = two_tenants
    monkeypatch.setenv("LOOKALIKE_TENANT_CONNECTIONS", "4")
    get_settings.cache_clear()
    logins = [db_admin.grant_access(owner, a.tenant_id, "bi", f"budget {i}") for i in range(2)]
    held: list[psycopg.Connection] = []
    try:
        limits = dict(owner.execute("select rolname, rolconnlimit from pg_roles where rolname = any(%s)",
                                    ([x.role for x in logins],)).fetchall())
        assert set(limits.values()) == {2}
        config = owner.execute("select rolconfig from pg_roles where rolname = %s", (logins[0].role,)).fetchone()[0]
        assert {c.split("=")[0] for c in config} >= {"lock_timeout", "statement_timeout",
                                                    "idle_in_transaction_session_timeout"}
        for x in logins:
            for _ in range(2):
                held.append(login_conn(x, test_url))
            with pytest.raises(psycopg.OperationalError, match="too many connections"):
                login_conn(x, test_url)
        # a third login would exceed nothing: the budget is re-divided (4 // 3 = 1 each)
        third = db_admin.grant_access(owner, a.tenant_id, "app", "budget 3")
        logins.append(third)
        assert owner.execute("select rolconnlimit from pg_roles where rolname = %s", (third.role,)).fetchone()[0] == 1
        code, out = cli("seeds", "list", "--tenant", b.slug)
        assert code == 0, out
        assert owner.execute("select pg_has_role('lookalike_service', 'pg_use_reserved_connections', 'member')"
                             ).fetchone()[0]
        assert int(owner.execute("show reserved_connections").fetchone()[0]) >= 1 or \
            os.environ.get("LOOKALIKE_DATABASE_URL")
        with pytest.raises(db_admin.AdminError, match="budget"):
            for i in range(5):
                logins.append(db_admin.grant_access(owner, a.tenant_id, "bi", f"one too many {i}"))
    finally:
        for c in held:
            c.close()
        for x in logins:
            db_admin.revoke_access(owner, x.role)
        get_settings.cache_clear()


def test_the_timeouts_do_not_apply_to_the_platform(owner):
    """The session limits are the tenants' logins' only: the service logins keep no such role setting."""
    rows = owner.execute("select rolname, rolconfig from pg_roles where rolname like 'lookalike%'").fetchall()
    assert all(not cfg for _, cfg in rows), rows
