"""Connections and tenant scoping.

Who connects decides what can be read:

* the *owner* (the URL's own user, owner of the schema): migrations, onboarding and deleting tenants, granting
  access, building the marts, listing tenants. Nothing else; every such use is in ``lookalike_assets/db/admin.py``
  or the migrations, and no tenant work runs on it.
* the platform's *service logins* (``lookalike_pipeline`` for asset code, ``lookalike_app`` for the CLI,
  ``lookalike_api`` for the API, ``lookalike_changes`` for sensors), with passwords derived from one secret
  (``LOOKALIKE_SECRET``). Tenant work runs on them: inside one transaction with ``app.current_tenant`` set
  (``set_config(..., true)``, transaction-local), so that Row-Level Security (ENABLE + FORCE) limits every
  statement to that tenant. ``RESET ROLE`` on such a connection leads back to the same service login.
* *bound logins* (``lookalike access grant``): a tenant's BI tool or application; they always see exactly their
  tenant, whatever they set.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import hmac
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from lookalike_assets.settings import Settings, get_settings

APP_ROLE = "lookalike_app"
PIPELINE_ROLE = "lookalike_pipeline"
BI_ROLE = "lookalike_bi"
CHANGES_ROLE = "lookalike_changes"
API_ROLE = "lookalike_api"
APP_ACCESS = "lookalike_app_access"  # the group holding what applications may do (tenants' app logins are members)
SERVICE_ROLES = (PIPELINE_ROLE, APP_ROLE, CHANGES_ROLE, API_ROLE)

# What a service login may do besides being itself: the pipeline and the API hold every privilege an application
# has (no switch needed), and the pipeline reads the marts as lookalike_bi (SET LOCAL ROLE: a narrowing).
ACTS_AS: dict[str, frozenset[str]] = {PIPELINE_ROLE: frozenset({APP_ROLE}), API_ROLE: frozenset({APP_ROLE})}
NARROWS_TO: dict[str, frozenset[str]] = {PIPELINE_ROLE: frozenset({BI_ROLE})}

EMBEDDED_DATABASE = "lookalike"


class TenantError(ValueError):
    """A tenant id that is not a UUID, or a tenant that does not exist."""


class ConnectionRoleError(RuntimeError):
    """Tenant work asked of a connection that may not do it (the owner's, or another service login's)."""


def parse_tenant_id(tenant_id: str | uuid.UUID) -> uuid.UUID:
    try:
        return tenant_id if isinstance(tenant_id, uuid.UUID) else uuid.UUID(str(tenant_id))
    except (ValueError, AttributeError):
        raise TenantError(f"tenant id {tenant_id!r} is not a UUID") from None


def with_database(conninfo: str, dbname: str) -> str:
    """The same server, another database."""
    params = conninfo_to_dict(conninfo)
    params["dbname"] = dbname
    return make_conninfo(**params)


def server_url(settings: Settings | None = None) -> str:
    """Owner URL of the server: LOOKALIKE_DATABASE_URL, or the embedded server (started on demand)."""
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
    """Owner conninfo of lookalike's database, creating the database on the embedded server."""
    s = settings or get_settings()
    url = server_url(s)
    if not s.database_url:
        ensure_database(url)
    return url


def service_password(role: str, settings: Settings | None = None) -> str:
    """A service login's password: derived from the deployment's secret, so every process agrees on it."""
    secret = (settings or get_settings()).secret_value()
    return hmac.new(secret.encode(), f"lookalike-role:{role}".encode(), hashlib.sha256).hexdigest()


def service_url(role: str, owner_url: str | None = None) -> str:
    """Conninfo of a service login on the owner URL's server and database."""
    if role not in SERVICE_ROLES:
        raise ValueError(f"{role!r} is not one of lookalike's service logins ({', '.join(SERVICE_ROLES)})")
    params = conninfo_to_dict(owner_url or database_url())
    params.update(user=role, password=service_password(role))
    return make_conninfo(**params)


@functools.lru_cache(maxsize=512)
def _row_type(names: tuple[str, ...]) -> type:
    return collections.namedtuple("Row", names, rename=True)  # an unnamed or repeated column: _<position>


def named_row(cursor: psycopg.Cursor) -> Callable[[Sequence[Any]], Any]:
    """Rows as named tuples, by column name (``row.model_text``) as well as by position. Unlike psycopg's
    ``namedtuple_row``, a column without a usable name (``?column?``, a repeated ``count``) is renamed to its
    position instead of failing the query."""
    desc = cursor.description
    if desc is None:
        return tuple
    make = _row_type(tuple(c.name for c in desc))._make
    return make


def configure_connection(conn: psycopg.Connection, *, custom_plans: bool = False,
                         named_rows: bool = True) -> psycopg.Connection:
    """What every connection of lookalike's needs: rows as named tuples and pgvector's types (when the extension is
    installed, i.e. after the first migration). ``custom_plans``: a plan per call, for a pool serving many tenants
    (a generic plan, with a parameter for the tenant, could not use a tenant's partial ANN index)."""
    if named_rows:
        conn.row_factory = named_row
    if custom_plans:
        conn.execute("set plan_cache_mode = force_custom_plan")
    try:
        from pgvector.psycopg import register_vector

        register_vector(conn)
    except psycopg.ProgrammingError:
        pass  # the vector extension is not installed yet (before the first migration)
    return conn


def connect(conninfo: str | None = None, *, role: str | None = None, **kwargs) -> psycopg.Connection:
    """An autocommit connection (every ``conn.transaction()`` is a real transaction, so the transaction-local
    tenant ends with it): as the owner of ``conninfo``, or, with ``role``, as that service login. Rows are named
    tuples: code reads them by column name (``row.model_text``)."""
    kwargs.setdefault("autocommit", True)
    kwargs.setdefault("row_factory", named_row)
    url = service_url(role, conninfo) if role else (conninfo or database_url())
    try:
        return configure_connection(psycopg.connect(url, **kwargs), named_rows=False)
    except psycopg.OperationalError as exc:
        if role and "password authentication failed" in str(exc):
            raise psycopg.OperationalError(
                f"{role} cannot log in: its password is derived from LOOKALIKE_SECRET, which differs from the one "
                "`lookalike db up` was last run with (run it again with the same secret)") from None
        raise


@contextmanager
def admin_connection(conninfo: str | None = None, **kwargs) -> Iterator[psycopg.Connection]:
    """The owner's connection: administration only (see lookalike_assets/db/admin.py)."""
    conn = connect(conninfo, **kwargs)
    try:
        yield conn
    finally:
        conn.close()


@contextmanager
def service_connection(role: str, conninfo: str | None = None, **kwargs) -> Iterator[psycopg.Connection]:
    """A service login's connection to the database of ``conninfo`` (default: this deployment's)."""
    conn = connect(conninfo, role=role, **kwargs)
    try:
        yield conn
    finally:
        conn.close()


def owner_url_of(conn: psycopg.Connection) -> str:
    """The owner-less parameters of a connection (host, port, database) to open other logins to the same place."""
    p = conn.info.get_parameters()
    return make_conninfo(**{k: v for k, v in p.items() if k in ("host", "port", "dbname", "sslmode")})


@contextmanager
def sibling(conn: psycopg.Connection, role: str) -> Iterator[psycopg.Connection]:
    """A service login to the same database as ``conn`` (the owner's, in administration code that hands tenant
    work over)."""
    with service_connection(role, owner_url_of(conn)) as c:
        yield c


class NestedTenantTransactionError(RuntimeError):
    pass


def _login(conn: psycopg.Connection) -> str:
    return conn.info.user


@contextmanager
def role_transaction(conn: psycopg.Connection, role: str | None,
                     tenant_id: str | uuid.UUID | None = None) -> Iterator[psycopg.Connection]:
    """One real transaction doing ``role``'s work (and, when given, for ``tenant_id``); commits on success.

    The connection must be a service login that is ``role``, holds its privileges, or narrows to it (the pipeline
    reading marts as lookalike_bi). Never the owner's: tenant work must not run where ``RESET ROLE`` leads to a
    superuser. Refuses to run inside an open transaction: there it would only be a savepoint, and the
    transaction-local tenant would outlive it.
    """
    from lookalike_assets.db.queries import Q

    tid = parse_tenant_id(tenant_id) if tenant_id is not None else None
    login = _login(conn)
    switch = None
    if role is not None and role != login:
        if role in NARROWS_TO.get(login, ()):
            switch = role
        elif role not in ACTS_AS.get(login, ()):
            raise ConnectionRoleError(
                f"{role} work was asked of a connection logged in as {login}: open it as {role} "
                "(lookalike_assets.db.connect.service_connection)")
    elif role is None and login not in SERVICE_ROLES:
        raise ConnectionRoleError(f"tenant work was asked of a connection logged in as {login}, not a service login")
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        raise NestedTenantTransactionError(
            "a role or tenant transaction needs a connection outside any transaction (use an autocommit connection)"
        )
    with conn.transaction():
        if tid is not None:
            Q.session.set_tenant(conn, tenant_id=str(tid))
        if switch is not None:
            Q.session.set_role(conn, role=switch)
        yield conn


@contextmanager
def tenant_transaction(
    conn: psycopg.Connection, tenant_id: str | uuid.UUID, role: str | None = PIPELINE_ROLE
) -> Iterator[psycopg.Connection]:
    """One transaction of ``role``'s work for ``tenant_id``; commits on success, rolls back on error."""
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
