"""`lookalike suppression`: leads and emails that must never be targeted."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer
from rich.table import Table

from lookalike_assets.cli.common import TenantOpt, console, fail, tenant

app = typer.Typer(help="Suppression: leads and emails never to target (every audience, every export).",
                  no_args_is_help=True)


@app.command("add")
def suppression_add(
    tenant_ref: TenantOpt,
    lead: Annotated[Optional[list[str]], typer.Option("--lead", help="External id or lead id; repeatable.")] = None,
    email: Annotated[Optional[list[str]], typer.Option("--email", help="An email (stored only as its SHA-256); "
                                                       "repeatable; '-' reads them from stdin.")] = None,
    reason: Annotated[str, typer.Option(help="Why (opt-out, complaint, legal hold, ...).")] = "unspecified",
) -> None:
    """Suppress leads (by id) or people (by email, even before they are leads)."""
    from lookalike_assets.db.connect import APP_ROLE, service_connection
    from lookalike_assets.pipeline.admin import add_suppression

    emails = [line.strip() for line in sys.stdin if line.strip()] if email == ["-"] else list(email or [])
    if not lead and not emails:
        fail("give --lead or --email")
    with service_connection(APP_ROLE) as conn:
        res = add_suppression(conn, tenant(tenant_ref), leads=list(lead or []), emails=emails, reason=reason)
    console.print(f"{res.added} suppression(s) added, {res.already} already there, {len(res.not_found)} lead(s) "
                  f"not found, {len(res.invalid)} invalid email(s)")
    for ref in res.not_found[:10]:
        console.print(f"  not a lead of this tenant: {ref}")
    for e in res.invalid[:10]:
        console.print(f"  not an email address: {e!r}")
    if (res.not_found or res.invalid) and not res.added and not res.already:
        raise typer.Exit(1)


@app.command("list")
def suppression_list(tenant_ref: TenantOpt) -> None:
    """The tenant's suppression list (emails shown as their hashes)."""
    from lookalike_assets.db.connect import APP_ROLE, service_connection
    from lookalike_assets.pipeline.admin import list_suppression

    table = Table("suppression_id", "lead", "email sha256", "reason", "added")
    with service_connection(APP_ROLE) as conn:
        for sid, ext, sha, reason, created in list_suppression(conn, tenant(tenant_ref)):
            table.add_row(str(sid), ext or "", (sha or "")[:16] + ("…" if sha else ""), reason,
                          f"{created:%Y-%m-%d %H:%M}")
    console.print(table)


@app.command("remove")
def suppression_remove(
    refs: Annotated[list[str], typer.Argument(help="Suppression ids, lead external ids or ids, or emails.")],
    tenant_ref: TenantOpt,
) -> None:
    """Remove entries from the suppression list."""
    from lookalike_assets.db.connect import APP_ROLE, service_connection
    from lookalike_assets.pipeline.admin import remove_suppression

    with service_connection(APP_ROLE) as conn:
        n = remove_suppression(conn, tenant(tenant_ref), refs)
    console.print(f"{n} suppression(s) removed")
    if not n:
        raise typer.Exit(1)
