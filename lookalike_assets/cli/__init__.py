"""`lookalike`: the command line for platform engineers and growth teams. One module per command group."""

from __future__ import annotations

from typing import Annotated

import typer

from lookalike_assets.cli import (
    access,
    audiences,
    bi,
    conversions,
    db,
    destinations,
    encoder,
    leads,
    ranking,
    run,
    seeds,
    suppression,
    tenants,
)
from lookalike_assets.cli.common import LookalikeGroup, configure_logging

app = typer.Typer(help="lookalike: lookalike audiences on PostgreSQL + pgvector, orchestrated by Dagster.",
                  no_args_is_help=True, pretty_exceptions_show_locals=False, add_completion=False,
                  cls=LookalikeGroup)


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show library logs (INFO).")] = False) -> None:
    configure_logging(verbose)


app.add_typer(db.app, name="db")
app.add_typer(tenants.app, name="tenants")
app.add_typer(access.app, name="access")
app.add_typer(leads.app, name="leads")
app.add_typer(seeds.app, name="seeds")
app.add_typer(suppression.app, name="suppression")
app.add_typer(audiences.app, name="audiences")
app.add_typer(conversions.app, name="conversions")
app.add_typer(ranking.app, name="ranking")
app.add_typer(bi.app, name="bi")
app.add_typer(encoder.app, name="encoder")
app.add_typer(destinations.app, name="destinations")


@app.command("api")
def api_cmd(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
) -> None:
    """Serve the REST API (OpenAPI at /openapi.json, docs at /docs) against lookalike's database."""
    import uvicorn

    from lookalike_assets.api.main import create_app

    uvicorn.run(create_app(), host=host, port=port, access_log=False)  # keys never reach a log
run.register(app)
# The command's name before the `leads` group existed.
app.command("import-leads", hidden=True)(leads.import_leads_cmd)

__all__ = ["app"]
