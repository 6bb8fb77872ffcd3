"""`lookalike`: the command line for platform engineers and growth teams."""

from __future__ import annotations

import logging
import sys
import time
import warnings
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

app = typer.Typer(help="lookalike: lookalike audiences on PostgreSQL + pgvector, orchestrated by Dagster.",
                  no_args_is_help=True, pretty_exceptions_show_locals=False, add_completion=False)
db_app = typer.Typer(help="The database: start, stop, migrate.", no_args_is_help=True)
tenants_app = typer.Typer(help="Tenants.", no_args_is_help=True)
seeds_app = typer.Typer(help="Seeds: the leads an audience should look like.", no_args_is_help=True)
audiences_app = typer.Typer(help="Audiences: define, inspect, publish, retire.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(tenants_app, name="tenants")
app.add_typer(seeds_app, name="seeds")
app.add_typer(audiences_app, name="audiences")

TenantOpt = Annotated[str, typer.Option("--tenant", "-t", help="Tenant slug or id.")]

console = Console(width=None if sys.stdout.isatty() else 150)


def _quiet() -> None:
    warnings.filterwarnings("ignore")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.setLevel(logging.WARNING)
    for name in ("alembic", "pgserver", "sentence_transformers"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _redact(conninfo: str) -> str:
    from psycopg.conninfo import conninfo_to_dict

    d = conninfo_to_dict(conninfo)
    if d.get("password"):
        d["password"] = "***"
    return " ".join(f"{k}={v}" for k, v in d.items())


@db_app.command("up")
def db_up() -> None:
    """Start the embedded PostgreSQL (unless LOOKALIKE_DATABASE_URL is set) and apply migrations."""
    _quiet()
    from lookalike_assets.db import migrate
    from lookalike_assets.db.connect import database_url

    url = database_url()
    migrate.upgrade(url)
    console.print(f"[green]database ready[/green] at {_redact(url)} (schema {migrate.current_revision(url)})")


@db_app.command("migrate")
def db_migrate(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply migrations up to REVISION."""
    _quiet()
    from lookalike_assets.db import migrate
    from lookalike_assets.db.connect import database_url

    url = database_url()
    migrate.upgrade(url, revision)
    console.print(f"schema at {migrate.current_revision(url)}")


@db_app.command("down")
def db_down() -> None:
    """Stop the embedded PostgreSQL (its data stays under .lookalike/pg)."""
    _quiet()
    from lookalike_assets.db import embedded
    from lookalike_assets.settings import get_settings

    s = get_settings()
    if s.database_url:
        console.print("LOOKALIKE_DATABASE_URL is set: the external database is not managed here.")
        return
    stopped = embedded.stop(s.pgdata)
    console.print("embedded database stopped" if stopped else "embedded database was not running")


@db_app.command("url")
def db_url() -> None:
    """Print the admin connection string (starting the embedded server if needed)."""
    _quiet()
    from lookalike_assets.db.connect import database_url

    typer.echo(database_url())


def _all_tenant_ids() -> list[str]:
    from lookalike_assets.db.connect import admin_connection
    from lookalike_assets.db.queries import Q

    with admin_connection() as conn:
        return [r[0] for r in Q.list_tenants(conn)]


def _resolve_tenants(refs: list[str] | None) -> list[str]:
    """Tenant ids for slugs or ids; all tenants when none are given."""
    from lookalike_assets.db.connect import admin_connection
    from lookalike_assets.db.queries import Q

    if not refs:
        return _all_tenant_ids()
    out = []
    with admin_connection() as conn:
        for ref in refs:
            row = Q.tenant_by_slug(conn, slug=ref)
            if row is None:
                try:
                    row = Q.get_tenant(conn, tenant_id=ref)
                except Exception:
                    conn.rollback()
                    row = None
            if row is None:
                raise typer.BadParameter(f"no tenant with slug or id {ref!r}")
            out.append(row[0])
    return out


@tenants_app.command("list")
def tenants_list() -> None:
    """List tenants with their lead counts."""
    _quiet()
    from lookalike_assets.db.connect import admin_connection
    from lookalike_assets.db.queries import Q

    table = Table("slug", "name", "tenant_id", "leads")
    with admin_connection() as conn:
        for tid, slug, name, _created, leads in Q.list_tenants(conn):
            table.add_row(slug, name, tid, str(leads))
    console.print(table)


def _materialize(tenant_ids: list[str]) -> bool:
    from lookalike_assets.orchestration import materialize_tenants

    ok = True
    with Progress(TextColumn("[bold]materializing[/bold]"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("tenants", total=len(tenant_ids))

        def done(o):
            nonlocal ok
            bar.advance(task)
            status = "[green]ok[/green]" if o.success else f"[red]failed[/red]: {o.error}"
            bar.console.print(f"  tenant {o.tenant_id}: {status} in {o.seconds:.1f}s (run {o.run_id[:8]})")
            ok = ok and o.success

        materialize_tenants(tenant_ids, on_done=done, log_level="WARNING")
    return ok


def _build_marts() -> bool:
    from lookalike_assets.orchestration import materialize_marts

    with console.status("dbt build (staging, marts)..."):
        o = materialize_marts()
    console.print(f"  marts: {'[green]ok[/green]' if o.success else '[red]failed[/red]: ' + str(o.error)} "
                  f"in {o.seconds:.1f}s (run {o.run_id[:8]})")
    return o.success


@app.command()
def marts() -> None:
    """Build the dbt models (staging views, marts) and run their tests."""
    _quiet()
    if not _build_marts():
        raise typer.Exit(1)


@app.command()
def materialize(
    tenant: Annotated[Optional[list[str]], typer.Option("--tenant", "-t", help="Slug or id; repeatable. "
                                                        "Default: every tenant.")] = None,
) -> None:
    """Materialize every asset of the given tenants (features, embeddings, profiles, pools)."""
    _quiet()
    if not _materialize(_resolve_tenants(tenant)):
        raise typer.Exit(1)


def print_summary(seconds: float | None = None) -> None:
    from lookalike_assets.db.connect import APP_ROLE, admin_connection, tenant_transaction
    from lookalike_assets.db.queries import Q

    table = Table("tenant", "leads", "embedded", "seeds", "audience", "status", "candidates", "members", "exports",
                  title="lookalike")
    totals = {"tenants": 0, "leads": 0, "embedded": 0}
    with admin_connection() as conn:
        tenants = list(Q.list_tenants(conn))
        for tid, slug, _name, _c, _l in tenants:
            with tenant_transaction(conn, tid, APP_ROLE):
                leads, embedded, seeds = Q.tenant_summary(conn, tenant_id=tid)
                rows = list(Q.audience_summary(conn, tenant_id=tid))
            totals["tenants"] += 1
            totals["leads"] += leads
            totals["embedded"] += embedded
            first = True
            for name, status, candidates, members, exports in rows or [("(no audiences)", "", 0, 0, "")]:
                table.add_row(slug if first else "", str(leads) if first else "", str(embedded) if first else "",
                              str(seeds) if first else "", name, status, str(candidates), str(members), exports or "")
                first = False
    console.print(table)
    line = f"{totals['tenants']} tenants, {totals['leads']} leads, {totals['embedded']} embedded"
    if seconds is not None:
        line += f", {seconds:.1f}s"
    console.print(line)
    from lookalike_assets.settings import get_settings

    console.print(f"export files under {get_settings().exports_dir}")


@app.command()
def summary() -> None:
    """Tenants, leads, embedded leads and candidates per audience."""
    _quiet()
    print_summary()


@app.command()
def demo(
    leads: Annotated[int, typer.Option(help="Leads per tenant (1k to 1M).", min=10, max=1_000_000)] = 1500,
    tenants: Annotated[int, typer.Option(help="Number of demo tenants.", min=1, max=4)] = 3,
    seed: Annotated[int, typer.Option(help="Random seed of the generator.")] = 7,
    pool_size: Annotated[int, typer.Option(help="Candidate pool size of the demo audiences.", min=1)] = 500,
    materialize_all: Annotated[bool, typer.Option("--materialize/--no-materialize",
                                                  help="Materialize every asset after loading.")] = True,
) -> None:
    """Start the database, load the demo tenants, materialize everything, print a summary."""
    _quiet()
    from lookalike_assets.db import migrate
    from lookalike_assets.db.connect import admin_connection, database_url
    from lookalike_assets.pipeline.demo import load_demo

    t = time.perf_counter()
    url = database_url()
    migrate.upgrade(url)
    console.print(f"database ready ({_redact(url)})")
    with admin_connection(url) as conn:
        loaded = load_demo(conn, leads_per_tenant=leads, tenants=tenants, seed=seed, pool_size=pool_size)
    for d in loaded:
        console.print(f"  {d.slug}: {d.leads} leads ({d.inserted} new, {d.updated} changed), {d.seeds} seeds, "
                      f"{d.audiences} audiences")
    ok = True
    if materialize_all:
        ok = _materialize([str(d.tenant_id) for d in loaded])
        ok = _build_marts() and ok
    print_summary(time.perf_counter() - t)
    if not ok:
        raise typer.Exit(1)


if __name__ == "__main__":  # pragma: no cover
    app()
