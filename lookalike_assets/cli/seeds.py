"""`lookalike seeds`: the leads an audience should look like."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer
from rich.table import Table

from lookalike_assets.cli.common import TenantOpt, console, fail, tenant

app = typer.Typer(help="Seeds: the leads an audience should look like.", no_args_is_help=True)


@app.command("add")
def seeds_add(
    leads: Annotated[list[str], typer.Argument(help="External ids or lead ids; '-' reads them from stdin.")],
    tenant_ref: TenantOpt,
    label: Annotated[str, typer.Option(help="won, meeting, replied, scored or manual.")] = "manual",
    weight: Annotated[Optional[float], typer.Option(help="Overrides the label's weight.")] = None,
) -> None:
    """Mark leads of the tenant as seeds."""
    from lookalike_assets.db.connect import APP_ROLE, service_connection
    from lookalike_assets.pipeline.admin import AdminError, add_seeds

    refs = [line.strip() for line in sys.stdin] if leads == ["-"] else leads
    with service_connection(APP_ROLE) as conn:
        try:
            res = add_seeds(conn, tenant(tenant_ref), refs, label=label, weight=weight)
        except AdminError as exc:
            fail(str(exc))
    console.print(f"{len(res.added)} seed(s) added, {len(res.already)} already seeds, {len(res.not_found)} not found")
    for ref in res.not_found[:20]:
        console.print(f"  not a lead of this tenant: {ref}")
    if res.not_found and not res.added:
        raise typer.Exit(1)


@app.command("list")
def seeds_list(tenant_ref: TenantOpt,
               deleted: Annotated[bool, typer.Option("--deleted", help="Include removed seeds.")] = False) -> None:
    """List the tenant's seeds."""
    from lookalike_assets.db.connect import APP_ROLE, service_connection
    from lookalike_assets.pipeline.admin import list_seeds

    table = Table("seed_id", "lead", "label", "weight", "source", "created", "removed")
    with service_connection(APP_ROLE) as conn:
        for sid, ext, label, w, src, created, removed in list_seeds(conn, tenant(tenant_ref), deleted):
            table.add_row(str(sid), ext, label, "" if w is None else f"{w:g}", src or "",
                          f"{created:%Y-%m-%d %H:%M}", f"{removed:%Y-%m-%d %H:%M}" if removed else "")
    console.print(table)


@app.command("remove")
def seeds_remove(
    refs: Annotated[list[str], typer.Argument(help="Seed ids, lead external ids or lead ids.")],
    tenant_ref: TenantOpt,
    label: Annotated[Optional[str], typer.Option(help="Only seeds with this label.")] = None,
) -> None:
    """Remove seeds (soft delete: they stop counting, history stays)."""
    from lookalike_assets.db.connect import APP_ROLE, service_connection
    from lookalike_assets.pipeline.admin import remove_seeds

    with service_connection(APP_ROLE) as conn:
        n = remove_seeds(conn, tenant(tenant_ref), refs, label)
    console.print(f"{n} seed(s) removed")
