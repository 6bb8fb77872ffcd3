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
    rejects_dir: Annotated[Optional[str], typer.Option(help="Where rows of unknown tenants go (default: --move-to, "
                                                       "else <LOOKALIKE_HOME>/rejects).")] = None,
    encoding: Annotated[Optional[str], typer.Option(help="The files' text encoding (default UTF-8).")] = None,
    facts: Annotated[bool, typer.Option("--facts/--no-facts", help="Build the conversion facts of the days the "
                                        "events fall on (what the day sensor does), so reports show them.")] = True,
) -> None:
    """Load conversion files now (the landing-folder sensor does the same for dropped files), then build the
    facts of the days they touched. Exits 1 when no event could be attributed to a lead, 2 for a file that is
    not a conversion file."""
    from lookalike_assets.cli.common import all_tenants
    from lookalike_assets.db.connect import APP_ROLE, service_connection
    from lookalike_assets.domain.conversions import ConversionFileError
    from lookalike_assets.orchestration import materialize_conversion_facts
    from lookalike_assets.pipeline.conversions import ConversionReport, ingest_file

    total = ConversionReport()
    tenants = {k: tid for tid, slug, _name in all_tenants() for k in (tid, slug)}
    with service_connection(APP_ROLE) as conn:
        for f in files:
            try:
                res = ingest_file(conn, f, tenants, done_dir=Path(move_to) if move_to else None,
                                  rejects_dir=Path(rejects_dir) if rejects_dir else None, encoding=encoding)
            except ConversionFileError as exc:
                fail(f"{Path(f).name}: nothing was loaded: {exc}")
            r = res.report
            total.add(r)
            console.print(f"{res.file}: {r.received} events, {r.inserted} new, {r.duplicates} duplicates, "
                          f"{len(r.quarantined)} quarantined, {res.unknown_tenant_rows} with an unknown tenant, "
                          f"{res.unreadable_rows} unreadable; "
                          f"days {_days(r.days)}")
            for eid, reason in r.quarantined[:10]:
                console.print(f"  quarantined {eid or '-'}: {reason}")
            if res.rejects_file:
                console.print(f"  rows with an unknown tenant or unreadable, with their reasons: {res.rejects_file}")
    if total.days and facts:
        o = materialize_conversion_facts(total.days)
        console.print(f"conversion facts of {len(total.days)} day(s): "
                      f"{'[green]ok[/green]' if o.success else '[red]failed[/red]: ' + str(o.error)} "
                      f"in {o.seconds:.1f}s (run {o.run_id[:8]}); `lookalike marts` then updates the reports")
        if not o.success:
            raise typer.Exit(1)
    elif total.days:
        console.print("facts not built (--no-facts): the day sensor builds them, or `lookalike conversions facts "
                      f"--day {min(total.days)} --day {max(total.days)}`")
    if total.received and not (total.inserted or total.duplicates):
        console.print("[red]no event could be attributed to a lead[/red]")
        raise typer.Exit(1)


def _days(days) -> str:
    days = sorted(days)
    if not days:
        return "-"
    return days[0].isoformat() if len(days) == 1 else f"{days[0]}..{days[-1]} ({len(days)})"


@app.command("facts")
def conversions_facts(
    day: Annotated[list[str], typer.Option("--day", help="A day (YYYY-MM-DD); two give a range. Repeatable.")],
) -> None:
    """Build the conversion facts of some days (what the day sensor does after new events)."""
    from datetime import date, timedelta

    from lookalike_assets.orchestration import materialize_conversion_facts

    try:
        days = sorted(date.fromisoformat(d) for d in day)
    except ValueError as exc:
        fail(f"--day: {exc}")
    span = [days[0] + timedelta(days=i) for i in range((days[-1] - days[0]).days + 1)]
    o = materialize_conversion_facts(span)
    console.print(f"conversion facts of {len(span)} day(s): "
                  f"{'[green]ok[/green]' if o.success else '[red]failed[/red]: ' + str(o.error)} in {o.seconds:.1f}s")
    if not o.success:
        raise typer.Exit(1)


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

    from lookalike_assets.db.connect import PIPELINE_ROLE, service_connection
    from lookalike_assets.orchestration import materialize_conversion_facts
    from lookalike_assets.pipeline.conversions import simulate_demo_conversions

    affected = set()
    with service_connection(PIPELINE_ROLE) as conn:  # reads the demo's hidden truth
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
