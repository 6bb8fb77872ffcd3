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
                                      "application may do with the tenant's data.")] = "bi",
    name: Annotated[Optional[str], typer.Option(help="What the login is for (e.g. 'Metabase').")] = None,
) -> None:
    """Create a login bound to the tenant; prints its password and connection string once."""
    from lookalike_assets.db.admin import AdminError, grant_access
    from lookalike_assets.db.connect import admin_connection, database_url

    (tid, slug), = resolve_tenants([tenant_ref])
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
    """Tenants' logins (never their passwords)."""
    from lookalike_assets.db.admin import list_access
    from lookalike_assets.db.connect import admin_connection

    tid = resolve_tenants([tenant_ref])[0][0] if tenant_ref else None
    table = Table("login", "tenant", "kind", "name", "created")
    with admin_connection() as conn:
        for login in list_access(conn, tid):
            table.add_row(login.role, login.slug, login.kind, login.name, f"{login.created_at:%Y-%m-%d %H:%M}")
    console.print(table)


@app.command("revoke")
def access_revoke(login: Annotated[str, typer.Argument(help="The login's role name (see `access list`).")]) -> None:
    """Drop a tenant's login, ending its open sessions."""
    from lookalike_assets.db.admin import AdminError, revoke_access
    from lookalike_assets.db.connect import admin_connection

    with admin_connection() as conn:
        try:
            gone = revoke_access(conn, login)
        except AdminError as exc:
            fail(str(exc))
    console.print(f"login {gone.role} of {gone.slug} revoked")
