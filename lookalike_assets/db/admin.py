"""Everything lookalike does as the database owner, in one place: preparing a database (migrations, the service
logins' passwords, the embedded server's client authentication), onboarding, listing and deleting tenants,
tenant settings, and granting or revoking tenants' own logins. dbt builds the marts as the owner too (they span
tenants; see lookalike_assets/defs/analytics/dbt.py). No tenant's data is read or written here for a tenant's
work: that runs on the service logins (lookalike_assets/db/connect.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from lookalike_assets.db.connect import SERVICE_ROLES, admin_connection, service_password
from lookalike_assets.db.queries import Q
from lookalike_assets.settings import get_settings


class AdminError(ValueError):
    pass


class AlreadyExists(AdminError):
    """A name that is taken in the tenant (an audience's, a destination's)."""


def prepare_database(conninfo: str) -> str:
    """Migrations up to head, then the service logins' passwords (derived from LOOKALIKE_SECRET). Returns the
    schema revision."""
    from lookalike_assets.db import migrate

    migrate.upgrade(conninfo)
    with admin_connection(conninfo) as conn:
        ensure_service_logins(conn)
        refresh_access(conn)
    return migrate.current_revision(conninfo)


def ensure_service_logins(conn: psycopg.Connection) -> None:
    """Give each service login its password (SCRAM), derived from this deployment's secret. Roles are
    cluster-wide: every database of a server shares them, and so must share the secret."""
    with conn.transaction():
        conn.execute("set local password_encryption = 'scram-sha-256'")
        for role in SERVICE_ROLES:
            conn.execute(sql.SQL("alter role {} with login password {}").format(
                sql.Identifier(role), sql.Literal(service_password(role))))


# ---------------------------------------------------------------------------------------------------------
# Tenants


def create_tenant(conn: psycopg.Connection, slug: str, name: str) -> str:
    """Onboard a tenant."""
    if any(ord(ch) < 32 for ch in name) or not name.strip() or len(name) > 200:
        raise AdminError("a tenant name has 1 to 200 characters and no control characters")
    try:
        with conn.transaction():
            return Q.admin.create_tenant(conn, slug=slug, name=name.strip())
    except psycopg.errors.UniqueViolation:
        raise AdminError(f"a tenant with slug {slug!r} exists already") from None
    except psycopg.errors.CheckViolation:
        raise AdminError(f"invalid slug {slug!r}: lower-case letters, digits and dashes, at most 63") from None


def upsert_tenant(conn: psycopg.Connection, tenant_id: uuid.UUID, slug: str, name: str) -> None:
    with conn.transaction():
        Q.tenants.upsert_tenant(conn, tenant_id=tenant_id, slug=slug, name=name)


@dataclass
class TenantRow:
    tenant_id: str
    slug: str
    name: str
    leads: int
    settings: dict


def list_tenants(conn: psycopg.Connection) -> list[TenantRow]:
    return [TenantRow(r[0], r[1], r[2], int(r[4]), r[5] or {}) for r in Q.tenants.list_tenants(conn)]


def delete_tenant(conn: psycopg.Connection, tenant_id: uuid.UUID) -> dict[str, int]:
    """Delete a tenant and everything of it (its logins too). The change log records it, so the sensor removes
    the tenant's partition."""
    with conn.transaction():
        counts = Q.tenants.tenant_counts(conn, tenant_id=tenant_id)
        roles = [r[0] for r in Q.tenants.tenant_logins(conn, tenant_id=tenant_id)]
        Q.backtest.delete_tenant(conn, tenant_id=tenant_id)
        for role in roles:
            _drop_login(conn, role)
    return {"leads": int(counts[0]), "audiences": int(counts[1]), "logins": len(roles)}


def set_ranking_settings(conn: psycopg.Connection, tenant_id: uuid.UUID, ranking: dict) -> None:
    import json

    with conn.transaction():
        Q.ranking.set_tenant_ranking_settings(conn, tenant_id=tenant_id, ranking=json.dumps(ranking))


def set_tuning_settings(conn: psycopg.Connection, tenant_id: uuid.UUID, tuning: dict) -> None:
    """The tenant's economics for tuning (``settings.tuning``; validated by the caller with parse_economics)."""
    import json

    with conn.transaction():
        Q.tuning.set_tenant_tuning(conn, tenant_id=tenant_id, tuning=json.dumps(tuning))


def set_glossary(conn: psycopg.Connection, tenant_id: uuid.UUID, glossary: dict[str, str]) -> None:
    """The tenant's own abbreviations, spelt out when descriptions are read (``settings.describe.glossary``):
    ``{"mm": "Minute Maid"}``; replaces the previous glossary (an empty one clears it)."""
    import json

    with conn.transaction():
        Q.describe.set_glossary(conn, tenant_id=tenant_id, glossary=json.dumps(glossary))


def mark_temporary(conn: psycopg.Connection, tenant_id: uuid.UUID, what: str) -> None:
    """A tenant that a command makes for itself (a backtest) and deletes when it ends; `tenants list` marks one
    that a killed command left behind."""
    with conn.transaction():
        Q.tenants.mark_tenant_temporary(conn, tenant_id=tenant_id, what=what)


def _drop_login(conn: psycopg.Connection, role: str) -> None:
    """Inside the caller's transaction: end the login's sessions and drop it."""
    Q.tenants.terminate_sessions_of(conn, role=role)
    conn.execute(sql.SQL("drop owned by {}").format(sql.Identifier(role)))
    conn.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(role)))


# ---------------------------------------------------------------------------------------------------------
# Tenants' own logins

ACCESS_GROUPS = {"bi": "lookalike_bi", "app": "lookalike_app_access"}


@dataclass
class Login:
    role: str
    password: str | None  # shown once, at creation
    tenant_id: str
    slug: str
    kind: str
    name: str
    created_at: object = None

    def conninfo(self, owner_conninfo: str) -> str:
        """How to connect as this login: the owner URL's server and database, this login's name and password."""
        from psycopg.conninfo import conninfo_to_dict, make_conninfo

        p = {k: v for k, v in conninfo_to_dict(owner_conninfo).items() if k in ("host", "port", "dbname", "sslmode")}
        return make_conninfo(**p, user=self.role, **({"password": self.password} if self.password else {}))


def grant_access(conn: psycopg.Connection, tenant_id: uuid.UUID, kind: str, name: str | None = None) -> Login:
    """A LOGIN role bound to one tenant, member of the matching group (``bi``: reads the marts; ``app``: what an
    application may do with the tenant's leads, seeds, audiences and conversions), with a generated password
    (SCRAM). It always sees exactly its tenant. The password is returned once and stored nowhere."""
    import secrets

    if kind not in ACCESS_GROUPS:
        raise AdminError(f"unknown kind {kind!r}: one of {', '.join(ACCESS_GROUPS)}")
    row = Q.tenants.get_tenant(conn, tenant_id=str(tenant_id))
    if row is None:
        raise AdminError(f"no tenant {tenant_id}")
    slug = row[1]
    name = (name or f"{kind} login").strip()
    if not 1 <= len(name) <= 100 or any(ord(ch) < 32 for ch in name):
        raise AdminError("a login's name has 1 to 100 characters and no control characters")
    # a name that says nothing: every login can list pg_roles, so a slug or a kind in it would tell each tenant
    # who the other tenants are (the login's tenant and kind are in lookalike_tenant_login)
    role = f"lk_{secrets.token_hex(10)}"
    password = secrets.token_urlsafe(24)
    budget = get_settings().tenant_connections
    with conn.transaction():
        held = [x.role for x in list_access(conn, tenant_id)]
        if len(held) + 1 > budget:
            raise AdminError(f"the tenant has {len(held)} logins and a budget of {budget} connections "
                             "(LOOKALIKE_TENANT_CONNECTIONS): revoke one first, or raise the budget")
        conn.execute("set local password_encryption = 'scram-sha-256'")
        conn.execute(sql.SQL("create role {} login password {} nosuperuser nocreatedb nocreaterole nobypassrls "
                             "noreplication inherit connection limit 1 in role {}").format(
            sql.Identifier(role), sql.Literal(password), sql.Identifier(ACCESS_GROUPS[kind])))
        Q.tenants.insert_tenant_login(conn, role=role, tenant_id=str(tenant_id), kind=kind, name=name)
        _limit_logins(conn, [*held, role])
    return Login(role, password, str(tenant_id), slug, kind, name)


def _limit_logins(conn: psycopg.Connection, roles: list[str]) -> None:
    """One tenant's logins share its connection budget; each holds the session limits that keep it from stalling
    other tenants (the login may lower them in its own session; what it cannot do is take a lock that blocks
    others, and the platform ends a session it waits on: db/stalls.py)."""
    s = get_settings()
    share = max(1, s.tenant_connections // max(1, len(roles)))
    for role in roles:
        ident = sql.Identifier(role)
        conn.execute(sql.SQL("alter role {} connection limit {}").format(ident, sql.Literal(share)))
        for name, seconds in (("lock_timeout", s.tenant_lock_timeout_seconds),
                              ("statement_timeout", s.tenant_statement_timeout_seconds),
                              ("idle_in_transaction_session_timeout", s.tenant_idle_transaction_seconds)):
            conn.execute(sql.SQL("alter role {} set {} = {}").format(
                ident, sql.Identifier(name), sql.Literal(f"{int(seconds * 1000)}ms")))


def refresh_access(conn: psycopg.Connection) -> int:
    """Every tenant login's connection share and session limits as the settings say now; the number of logins."""
    by_tenant: dict[str, list[str]] = {}
    for x in list_access(conn):
        by_tenant.setdefault(x.tenant_id, []).append(x.role)
    with conn.transaction():
        for roles in by_tenant.values():
            _limit_logins(conn, roles)
    return sum(len(r) for r in by_tenant.values())


def list_access(conn: psycopg.Connection, tenant_id: uuid.UUID | None = None) -> list[Login]:
    return [Login(r[0], None, r[1], r[2], r[3], r[4], r[5])
            for r in Q.tenants.list_tenant_logins(conn, tenant_id=None if tenant_id is None else str(tenant_id))]


def revoke_access(conn: psycopg.Connection, role: str) -> Login:
    """End the login's sessions and drop it."""
    found = [x for x in list_access(conn) if x.role == role]
    if not found:
        raise AdminError(f"{role!r} is not a tenant login (see `lookalike access list`)")
    with conn.transaction():
        Q.tenants.delete_tenant_login(conn, role=role)
        _drop_login(conn, role)
        rest = [x.role for x in list_access(conn, uuid.UUID(found[0].tenant_id))]
        if rest:
            _limit_logins(conn, rest)
    return found[0]


@dataclass
class ApiKey:
    key_id: str
    tenant_id: str
    slug: str
    name: str
    created_at: Any
    last_used_at: Any = None
    revoked_at: Any = None
    key: str | None = None  # only when just created: shown once, stored as a hash


def _checked_name(name: str, what: str, longest: int) -> str:
    name = name.strip()
    if not 1 <= len(name) <= longest or any(ord(ch) < 32 for ch in name):
        raise AdminError(f"{what} has 1 to {longest} characters and no control characters")
    return name


def grant_api_key(conn: psycopg.Connection, tenant_id: uuid.UUID, name: str | None = None) -> ApiKey:
    """An API key bound to the tenant: returned once; only its SHA-256 is stored."""
    from lookalike_assets.domain.apikeys import hash_key, new_key

    row = Q.tenants.get_tenant(conn, tenant_id=str(tenant_id))
    if row is None:
        raise AdminError(f"no tenant {tenant_id}")
    name = _checked_name(name or "api key", "a key's name", 100)
    key = new_key()
    with conn.transaction():
        made = Q.tenants.insert_api_key(conn, tenant_id=str(tenant_id), name=name, key_hash=hash_key(key))
    return ApiKey(str(made.key_id), str(tenant_id), row[1], name, made.created_at, key=key)


def list_api_keys(conn: psycopg.Connection, tenant_id: uuid.UUID | None = None) -> list[ApiKey]:
    return [ApiKey(str(r.key_id), str(r.tenant_id), r.slug, r.name, r.created_at, r.last_used_at, r.revoked_at)
            for r in Q.tenants.list_api_keys(conn, tenant_id=None if tenant_id is None else str(tenant_id))]


def revoke_api_key(conn: psycopg.Connection, key_id: str) -> ApiKey:
    with conn.transaction():
        row = Q.tenants.revoke_api_key(conn, key_id=key_id)
    if row is None:
        raise AdminError(f"{key_id!r} is not an API key (see `lookalike access list`)")
    return next(k for k in list_api_keys(conn, row.tenant_id) if k.key_id == str(row.key_id))


@dataclass
class StudioUser:
    user_id: str
    tenant_id: str
    slug: str
    name: str
    role: str
    created_at: Any = None
    revoked_at: Any = None
    last_sign_in: Any = None
    link: str | None = None  # only when just made: a one-time sign-in path, shown once, stored as a hash


STUDIO_ROLES = ("viewer", "editor")


def grant_studio_user(conn: psycopg.Connection, tenant_id: uuid.UUID, name: str, role: str | None = None,
                      hours: int = 72) -> StudioUser:
    """A person of the tenant for the studio (made, or found by name), and a one-time sign-in link for them that
    expires after ``hours``. ``role`` (viewer or editor; a new person: viewer) is set when given."""
    from lookalike_assets.domain.apikeys import hash_key, new_token

    row = Q.tenants.get_tenant(conn, tenant_id=str(tenant_id))
    if row is None:
        raise AdminError(f"no tenant {tenant_id}")
    name = _checked_name(name or "", "a person's name (or email)", 200)
    if role is not None and role not in STUDIO_ROLES:
        raise AdminError(f"unknown role {role!r}: one of {', '.join(STUDIO_ROLES)}")
    if not 1 <= hours <= 24 * 30:
        raise AdminError("a sign-in link lasts 1 hour to 30 days")
    token = new_token()
    with conn.transaction():
        found = Q.tenants.studio_user_by_name(conn, tenant_id=str(tenant_id), name=name)
        if found is None:
            role = role or "viewer"
            user_id = Q.tenants.insert_studio_user(conn, tenant_id=str(tenant_id), name=name, role=role).user_id
        else:
            user_id = found.user_id
            if role is not None and role != found.role:
                Q.tenants.set_studio_role(conn, user_id=str(user_id), role=role)
            role = role or found.role
        Q.tenants.insert_studio_link(conn, tenant_id=str(tenant_id), user_id=user_id, link_hash=hash_key(token),
                                     hours=hours)
    return StudioUser(str(user_id), str(tenant_id), row[1], name, role, link=f"/studio/sign-in/{token}")


def list_studio_users(conn: psycopg.Connection, tenant_id: uuid.UUID | None = None) -> list[StudioUser]:
    return [StudioUser(str(r.user_id), str(r.tenant_id), r.slug, r.name, r.role, r.created_at, r.revoked_at,
                       r.last_sign_in)
            for r in Q.tenants.list_studio_users(conn, tenant_id=None if tenant_id is None else str(tenant_id))]


def revoke_studio_user(conn: psycopg.Connection, user_id: str) -> StudioUser | None:
    """Revoke a studio user: their sessions end at their next request. None when no such user."""
    with conn.transaction():
        row = Q.tenants.revoke_studio_user(conn, user_id=user_id)
    if row is None:
        return None
    return next(u for u in list_studio_users(conn, row.tenant_id) if u.user_id == str(row.user_id))


def erase_from_marts(conn: psycopg.Connection, tenant_id: uuid.UUID, lead_ids: list[str]) -> int:
    """Delete erased leads' rows from every mart that keeps one per lead (incremental marts keep rows a rebuild
    would not remove); the marts are rebuilt afterwards. Returns the rows deleted."""
    n = 0
    with conn.transaction():
        for (table,) in Q.admin.marts_with_leads(conn):
            cur = conn.execute(sql.SQL("delete from marts.{} where tenant_id = %s and lead_id = any(%s::uuid[])")
                               .format(sql.Identifier(table)), (tenant_id, lead_ids))
            n += cur.rowcount
    return n

