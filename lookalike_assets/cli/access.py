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
                                      "REST API.")] = "bi",
    name: Annotated[Optional[str], typer.Option(help="What the login is for (e.g. 'Metabase').")] = None,
) -> None:
    """Create a login bound to the tenant; prints its password and connection string once."""
    from lookalike_assets.db.admin import AdminError, grant_access
    from lookalike_assets.db.connect import admin_connection, database_url

    (tid, slug), = resolve_tenants([tenant_ref])
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
    from lookalike_assets.db.admin import list_access, list_api_keys
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
    console.print(table)


@app.command("revoke")
def access_revoke(login: Annotated[str, typer.Argument(help="The login's role name or the API key's id (see "
                                                         "`access list`).")]) -> None:
    """Drop a tenant's login, ending its open sessions; or revoke an API key (at once)."""
    import uuid as _uuid

    from lookalike_assets.db.admin import AdminError, revoke_access, revoke_api_key
    from lookalike_assets.db.connect import admin_connection

    try:
        _uuid.UUID(login)
        is_key = True
    except ValueError:
        is_key = False
    with admin_connection() as conn:
        try:
            gone = revoke_api_key(conn, login) if is_key else revoke_access(conn, login)
        except AdminError as exc:
            fail(str(exc))
    if is_key:
        console.print(f"API key {gone.key_id} of {gone.slug} revoked")
        return
    console.print(f"login {gone.role} of {gone.slug} revoked")
