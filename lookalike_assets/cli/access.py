"""`lookalike access`: logins bound to one tenant, for its BI tool or its applications."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.table import Table

from lookalike_assets.cli.common import console, fail, resolve_tenants

app = typer.Typer(help="Logins bound to one tenant: they always see exactly that tenant, whatever they set.",
                  no_args_is_help=True)


@app.command("grant")
def access_grant(
    tenant_ref: Annotated[str, typer.Option("--tenant", "-t", help="Tenant slug or id.")],
    kind: Annotated[str, typer.Option(help="bi: reads the marts (a BI tool, a SQL console); app: what an "
                                      "application may do with the tenant's data; api: a key for lookalike's "
                                      "REST API; studio: a person of the tenant in the studio (web app).")] = "bi",
    name: Annotated[Optional[str], typer.Option(help="What the login is for (e.g. 'Metabase'); for the studio, "
                                                "the person (e.g. alice@example.com).")] = None,
    role: Annotated[Optional[str], typer.Option(help="studio: viewer (reads) or editor (also changes); a new "
                                                "person is a viewer unless told.")] = None,
    url: Annotated[str, typer.Option(help="studio: the address the studio is served at (`lookalike api`).")]
    = "http://127.0.0.1:8000",
    hours: Annotated[int, typer.Option(help="studio: how long the sign-in link is valid.")] = 72,
) -> None:
    """Create a login bound to the tenant; prints its password and connection string once (an API key, or a
    studio person's one-time sign-in link, likewise)."""
    from lookalike_assets.db.admin import AdminError, grant_access
    from lookalike_assets.db.connect import admin_connection, database_url

    (tid, slug), = resolve_tenants([tenant_ref])
    if kind == "studio":
        from lookalike_assets.db.admin import grant_studio_user

        if not name:
            fail("a studio person needs --name (their email, say)")
        with admin_connection() as conn:
            try:
                made = grant_studio_user(conn, tid, name, role, hours)
            except AdminError as exc:
                fail(str(exc))
        console.print(f"studio {made.role} [bold]{made.name}[/bold] of {slug} (user {made.user_id}, tenant {tid})")
        console.print(f"their one-time sign-in link, valid for {hours} h (shown once, stored as a hash):")
        typer.echo(f"  {url.rstrip('/')}{made.link}")
        return
    if role is not None:
        fail("--role is for --kind studio")
    if kind == "api":
        from lookalike_assets.db.admin import grant_api_key

        with admin_connection() as conn:
            try:
                made = grant_api_key(conn, tid, name)
            except AdminError as exc:
                fail(str(exc))
        console.print(f"API key [bold]{made.key_id}[/bold] for {slug} ({made.name})")
        console.print("the key is shown once, now; only its hash is stored:")
        typer.echo(f"  key: {made.key}")
        # the path of every call names the tenant (its id or its slug), never the key's id
        typer.echo(f"  tenant: {tid} (slug {slug}): e.g. GET /v1/tenants/{tid}/lookalike/seed")
        return
    with admin_connection() as conn:
        try:
            login = grant_access(conn, tid, kind, name)
        except AdminError as exc:
            fail(str(exc))
    console.print(f"login [bold]{login.role}[/bold] for {slug} ({login.kind}: {login.name})")
    console.print("its password is shown once, now; nothing stores it:")
    typer.echo(f"  password: {login.password}")
    typer.echo(f"  connect:  {login.conninfo(database_url())}")


@app.command("list")
def access_list(
    tenant_ref: Annotated[Optional[str], typer.Option("--tenant", "-t", help="Only this tenant's logins.")] = None,
) -> None:
    """Tenants' logins and API keys (never their passwords or keys)."""
    from lookalike_assets.db.admin import list_access, list_api_keys, list_studio_users
    from lookalike_assets.db.connect import admin_connection

    tid = resolve_tenants([tenant_ref])[0][0] if tenant_ref else None
    table = Table("login / key id", "tenant", "kind", "name", "created", "last used")
    with admin_connection() as conn:
        for login in list_access(conn, tid):
            table.add_row(login.role, login.slug, login.kind, login.name, f"{login.created_at:%Y-%m-%d %H:%M}", "")
        for k in list_api_keys(conn, tid):
            table.add_row(k.key_id, k.slug, "api" + (" (revoked)" if k.revoked_at else ""), k.name,
                          f"{k.created_at:%Y-%m-%d %H:%M}",
                          f"{k.last_used_at:%Y-%m-%d %H:%M}" if k.last_used_at else "never")
        for u in list_studio_users(conn, tid):
            table.add_row(u.user_id, u.slug, f"studio {u.role}" + (" (revoked)" if u.revoked_at else ""), u.name,
                          f"{u.created_at:%Y-%m-%d %H:%M}",
                          f"{u.last_sign_in:%Y-%m-%d %H:%M}" if u.last_sign_in else "never")
    console.print(table)


@app.command("revoke")
def access_revoke(login: Annotated[str, typer.Argument(help="The login's role name, the API key's id or the studio "
                                                         "user's id (see `access list`).")]) -> None:
    """Drop a tenant's login, ending its open sessions; revoke an API key (at once) or a studio user (their
    sessions end at their next request)."""
    import uuid as _uuid

    from lookalike_assets.db.admin import AdminError, revoke_access, revoke_api_key, revoke_studio_user
    from lookalike_assets.db.connect import admin_connection

    try:
        _uuid.UUID(login)
        is_key = True
    except ValueError:
        is_key = False
    with admin_connection() as conn:
        if is_key and (person := revoke_studio_user(conn, login)) is not None:
            console.print(f"studio user {person.name} of {person.slug} revoked: their sessions are over")
            return
        try:
            gone = revoke_api_key(conn, login) if is_key else revoke_access(conn, login)
        except AdminError as exc:
            fail(str(exc))
    if is_key:
        console.print(f"API key {gone.key_id} of {gone.slug} revoked")
        return
    console.print(f"login {gone.role} of {gone.slug} revoked")


@app.command("refresh")
def access_refresh() -> None:
    """Give every tenant login its share of its tenant's connection budget and its session limits as the settings
    say now (LOOKALIKE_TENANT_CONNECTIONS, LOOKALIKE_TENANT_*_SECONDS); `lookalike db up` does it too."""
    from lookalike_assets.db.admin import refresh_access
    from lookalike_assets.db.connect import admin_connection
    from lookalike_assets.settings import get_settings

    s = get_settings()
    with admin_connection() as conn:
        n = refresh_access(conn)
    console.print(f"{n} tenant login(s): {s.tenant_connections} connections per tenant, lock_timeout "
                  f"{s.tenant_lock_timeout_seconds:g} s, statement_timeout {s.tenant_statement_timeout_seconds:g} s, "
                  f"idle in a transaction at most {s.tenant_idle_transaction_seconds:g} s")
