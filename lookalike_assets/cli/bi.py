"""`lookalike bi`: the BI starter (a Metabase dashboard over one tenant's marts)."""

from __future__ import annotations

from typing import Annotated

import typer

from lookalike_assets.cli.common import console, fail, resolve_tenants

app = typer.Typer(help="The BI starter: a dashboard over one tenant's marts, read through its own login.",
                  no_args_is_help=True)


@app.command("metabase")
def bi_metabase(
    tenant_ref: Annotated[str, typer.Option("--tenant", "-t", help="Tenant slug or id.")],
    url: Annotated[str, typer.Option(envvar="METABASE_URL", help="Metabase's address.")] = "http://localhost:3001",
    admin_email: Annotated[str, typer.Option(envvar="METABASE_ADMIN_EMAIL", help="Metabase admin (created on "
                                             "first run).")] = "admin@lookalike.invalid",
    admin_password: Annotated[str, typer.Option(envvar="METABASE_ADMIN_PASSWORD", help="Its password.",
                                                prompt=True, hide_input=True)] = ...,
    wait: Annotated[float, typer.Option(help="Seconds to wait for Metabase to be up.", min=0)] = 300.0,
) -> None:
    """Provision (or update) the dashboard: Metabase's first-run setup, the tenant's marts as a database read by a
    login bound to the tenant, the questions, and the dashboard."""
    from lookalike_assets.bi.metabase import Metabase, ProvisioningError, provision
    from lookalike_assets.db.admin import AdminError, grant_access
    from lookalike_assets.db.connect import admin_connection, database_url

    (tid, slug), = resolve_tenants([tenant_ref])

    def make_login() -> str:
        with admin_connection() as conn:
            login = grant_access(conn, tid, "bi", "Metabase (BI starter)")
        console.print(f"  BI login {login.role} bound to {slug}")
        return login.conninfo(database_url())

    mb = Metabase(url)
    try:
        mb.wait(wait)
        mb.login(admin_email, admin_password)
        provision(mb, slug, make_login, say=lambda m: console.print(f"  {m}"))
    except (ProvisioningError, AdminError) as exc:
        fail(str(exc), code=1)
