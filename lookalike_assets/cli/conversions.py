"""`lookalike conversions`: the feedback loop from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from lookalike_assets.cli.common import console, fail, resolve_tenants

app = typer.Typer(help="Conversion events: the feedback loop.", no_args_is_help=True)


@app.command("ingest")
def conversions_ingest(
    files: Annotated[list[str], typer.Argument(help="CSV or JSON-lines files with a tenant column (slug or id).")],
    move_to: Annotated[Optional[str], typer.Option(help="Move each file here when loaded.")] = None,
) -> None:
    """Load conversion files now (the landing-folder sensor does the same for dropped files)."""
    from lookalike_assets.db.connect import admin_connection
    from lookalike_assets.defs.feedback.assets import tenant_directory
    from lookalike_assets.domain.conversions import ConversionFileError
    from lookalike_assets.pipeline.conversions import ingest_file

    with admin_connection() as conn:
        tenants = tenant_directory(conn)
        for f in files:
            try:
                res = ingest_file(conn, f, tenants, done_dir=Path(move_to) if move_to else None)
            except (ConversionFileError, FileNotFoundError) as exc:
                fail(str(exc))
            r = res.report
            console.print(f"{res.file}: {r.received} events, {r.inserted} new, {r.duplicates} duplicates, "
                          f"{len(r.quarantined)} quarantined, {res.unknown_tenant_rows} with an unknown tenant; "
                          f"days {', '.join(sorted(d.isoformat() for d in r.days)) or '-'}")
            for eid, reason in r.quarantined[:10]:
                console.print(f"  quarantined {eid or '-'}: {reason}")


@app.command("simulate")
def conversions_simulate(
    tenant: Annotated[Optional[list[str]], typer.Option("--tenant", "-t", help="Demo tenant(s); default all.")] = None,
    days: Annotated[int, typer.Option(help="Spread events over this many past days.", min=1, max=365)] = 30,
    seed: Annotated[int, typer.Option()] = 7,
    facts: Annotated[bool, typer.Option("--facts/--no-facts", help="Then rebuild those days' facts.")] = True,
) -> None:
    """Simulate outcomes for demo candidates from the generator's hidden propensity."""
    simulate(resolve_tenants(tenant), days, seed, facts)


def simulate(tenants: list[tuple[str, str]], days: int, seed: int, facts: bool) -> bool:
    import uuid

    from lookalike_assets.db.connect import admin_connection
    from lookalike_assets.orchestration import materialize_conversion_facts
    from lookalike_assets.pipeline.conversions import simulate_demo_conversions

    affected = set()
    with admin_connection() as conn:
        for tid, slug in tenants:
            rep = simulate_demo_conversions(conn, uuid.UUID(tid), seed=seed, days=days)
            affected |= rep.days
            console.print(f"  conversions for {slug}: {rep.inserted} new events ({rep.duplicates} already there)")
    if facts and affected:
        o = materialize_conversion_facts(affected)
        console.print(f"  conversion facts: {'[green]ok[/green]' if o.success else '[red]failed[/red]: ' + str(o.error)}"
                      f" for {o.what} in {o.seconds:.1f}s (run {o.run_id[:8]})")
        return o.success
    return True
