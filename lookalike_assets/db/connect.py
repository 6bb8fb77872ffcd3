"""Connections and tenant scoping.

Two kinds of connection exist:

* the *admin* connection (the URL's own user, the schema owner): migrations, onboarding tenants,
  listing tenants for partitions. It never reads tenant data for a tenant's work.
* a *tenant transaction*: any connection, inside one transaction, switched to a non-owner role
  (``lookalike_pipeline`` for asset code, ``lookalike_app`` for applications and the CLI) with
  ``app.current_tenant`` set. Both settings are transaction-local (``set_config(..., true)``), so a
  pooled connection cannot carry one tenant, or one role, into another's work. Row-Level Security
  (ENABLE + FORCE) then limits every statement to that tenant.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from lookalike_assets.settings import Settings, get_settings

APP_ROLE = "lookalike_app"
PIPELINE_ROLE = "lookalike_pipeline"
BI_ROLE = "lookalike_bi"
CHANGES_ROLE = "lookalike_changes"
ROLES = (APP_ROLE, PIPELINE_ROLE, BI_ROLE)

EMBEDDED_DATABASE = "lookalike"


class TenantError(ValueError):
    """A tenant id that is not a UUID, or a tenant that does not exist."""


def parse_tenant_id(tenant_id: str | uuid.UUID) -> uuid.UUID:
    try:
        return tenant_id if isinstance(tenant_id, uuid.UUID) else uuid.UUID(str(tenant_id))
    except (ValueError, AttributeError) as exc:
        raise TenantError(f"tenant id {tenant_id!r} is not a UUID") from exc


def with_database(conninfo: str, dbname: str) -> str:
    """The same server, another database."""
    params = conninfo_to_dict(conninfo)
    params["dbname"] = dbname
    return make_conninfo(**params)


def server_url(settings: Settings | None = None) -> str:
    """Admin URL of the server: LOOKALIKE_DATABASE_URL, or the embedded server (started on demand)."""
    s = settings or get_settings()
    if s.database_url:
        return s.database_url
    from lookalike_assets.db import embedded

    uri = embedded.start(s.pgdata)
    return with_database(uri, EMBEDDED_DATABASE)


def ensure_database(conninfo: str) -> None:
    """Create the URL's database if it does not exist (embedded server and test databases)."""
    params = conninfo_to_dict(conninfo)
    dbname = params.get("dbname") or "postgres"
    maint = make_conninfo(**{**params, "dbname": "postgres"})
    with psycopg.connect(maint, autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(psycopg.sql.SQL("create database {}").format(psycopg.sql.Identifier(dbname)))


def database_url(settings: Settings | None = None) -> str:
    """Admin conninfo of lookalike's database, creating the database on the embedded server."""
    s = settings or get_settings()
    url = server_url(s)
    if not s.database_url:
        ensure_database(url)
    return url


class NestedTenantTransactionError(RuntimeError):
    pass


def connect(conninfo: str | None = None, **kwargs) -> psycopg.Connection:
    """An autocommit connection: every ``conn.transaction()`` on it is a real transaction, so the
    transaction-local tenant and role end with it."""
    kwargs.setdefault("autocommit", True)
    conn = psycopg.connect(conninfo or database_url(), **kwargs)
    try:
        from pgvector.psycopg import register_vector

        register_vector(conn)
    except psycopg.ProgrammingError:
        pass  # the vector extension is not installed yet (before the first migration)
    return conn


@contextmanager
def admin_connection(conninfo: str | None = None, **kwargs) -> Iterator[psycopg.Connection]:
    conn = connect(conninfo, **kwargs)
    try:
        yield conn
    finally:
        conn.close()


@contextmanager
def role_transaction(conn: psycopg.Connection, role: str | None,
                     tenant_id: str | uuid.UUID | None = None) -> Iterator[psycopg.Connection]:
    """One real transaction as ``role`` (and, when given, for ``tenant_id``); commits on success.

    Refuses to run inside an open transaction: there it would only be a savepoint, and the
    transaction-local role and tenant would outlive it.
    """
    from lookalike_assets.db.queries import Q

    tid = parse_tenant_id(tenant_id) if tenant_id is not None else None
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        raise NestedTenantTransactionError(
            "a role or tenant transaction needs a connection outside any transaction (use an autocommit connection)"
        )
    with conn.transaction():
        if tid is not None:
            Q.set_tenant(conn, tenant_id=str(tid))
        if role is not None:
            Q.set_role(conn, role=role)
        yield conn


@contextmanager
def tenant_transaction(
    conn: psycopg.Connection, tenant_id: str | uuid.UUID, role: str | None = PIPELINE_ROLE
) -> Iterator[psycopg.Connection]:
    """One transaction as ``role`` for ``tenant_id``; commits on success, rolls back on error."""
    with role_transaction(conn, role, tenant_id) as c:
        yield c


def dbt_env(conninfo: str) -> dict[str, str]:
    """Environment for dbt's profile (dbt_project/profiles.yml) from a libpq connection string."""
    p = conninfo_to_dict(conninfo)
    return {
        "LOOKALIKE_DBT_HOST": str(p.get("host") or "localhost"),
        "LOOKALIKE_DBT_PORT": str(p.get("port") or "5432"),
        "LOOKALIKE_DBT_USER": str(p.get("user") or "postgres"),
        "LOOKALIKE_DBT_PASSWORD": str(p.get("password") or ""),
        "LOOKALIKE_DBT_DBNAME": str(p.get("dbname") or "lookalike"),
    }
