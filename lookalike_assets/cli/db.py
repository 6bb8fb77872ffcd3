"""`lookalike db`: start, stop and migrate the database."""

from __future__ import annotations

from typing import Annotated

import typer

from lookalike_assets.cli.common import console, redact

app = typer.Typer(help="The database: start, stop, migrate.", no_args_is_help=True)


@app.command("up")
def db_up() -> None:
    """Start the embedded PostgreSQL (unless LOOKALIKE_DATABASE_URL is set) and apply migrations."""
    from lookalike_assets.db.admin import prepare_database
    from lookalike_assets.db.connect import database_url

    url = database_url()
    revision = prepare_database(url)
    console.print(f"[green]database ready[/green] at {redact(url)} (schema {revision}; service logins set)")


@app.command("migrate")
def db_migrate(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply migrations up to REVISION."""
    from lookalike_assets.db import migrate
    from lookalike_assets.db.connect import database_url

    url = database_url()
    migrate.upgrade(url, revision)
    if revision == "head":
        from lookalike_assets.db.admin import ensure_service_logins
        from lookalike_assets.db.connect import admin_connection

        with admin_connection(url) as conn:
            ensure_service_logins(conn)
    console.print(f"schema at {migrate.current_revision(url)}")


@app.command("down")
def db_down() -> None:
    """Stop the embedded PostgreSQL (its data stays under .lookalike/pg)."""
    from lookalike_assets.db import embedded
    from lookalike_assets.settings import get_settings

    s = get_settings()
    if s.database_url:
        console.print("LOOKALIKE_DATABASE_URL is set: the external database is not managed here.")
        return
    stopped = embedded.stop(s.pgdata)
    console.print("embedded database stopped" if stopped else "embedded database was not running")


@app.command("url")
def db_url() -> None:
    """Print the admin connection string (starting the embedded server if needed)."""
    from lookalike_assets.db.connect import database_url

    typer.echo(database_url())
