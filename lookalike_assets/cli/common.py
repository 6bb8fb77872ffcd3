"""What every command shares: the console, tenant and JSON arguments, and one way to fail."""

from __future__ import annotations

import json
import logging
import sys
import uuid
from pathlib import Path
from typing import Annotated, NoReturn, Optional

import psycopg
import typer
from rich.console import Console
from typer.core import TyperGroup

TenantOpt = Annotated[str, typer.Option("--tenant", "-t", help="Tenant slug or id.")]
# The options `audiences create` and `audiences edit` share.
SeedSetOpt = Annotated[Optional[str], typer.Option(help="seed_set as JSON or @file.json (overrides --labels).")]
PoolSizeOpt = Annotated[Optional[int], typer.Option(help="Candidate pool size.", min=1)]
PoolByOpt = Annotated[Optional[str], typer.Option(help="What chooses the pool: 'ranking' (the tenant's model, where "
                                                  "it has one; the default) or 'similarity' (to this audience's "
                                                  "own seeds).")]
DescriptionOpt = Annotated[Optional[str], typer.Option()]

console = Console(width=None if sys.stdout.isatty() else 150)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 150)


def configure_logging(verbose: bool = False) -> None:
    """Library loggers at WARNING (INFO with --verbose): the CLI prints its own progress and summaries.
    Python warnings are not hidden: they go through logging like everything else."""
    level = logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", force=True)
    for handler in logging.getLogger().handlers:  # libraries that set their own logger levels stop here too
        handler.setLevel(level)
    logging.captureWarnings(True)
    for name in ("alembic", "pgserver", "sentence_transformers", "dagster"):
        logging.getLogger(name).setLevel(max(level, logging.WARNING))


def fail(message: str, code: int = 2) -> NoReturn:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


class LookalikeGroup(TyperGroup):
    """The root command group: a database that cannot be reached, or that has no (or an old) lookalike schema,
    ends any command with one line saying so and what to do, and exit code 2, never a traceback. Any other error
    is a bug and keeps its traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except Exception as exc:
            db_error = database_error(exc)
            if isinstance(db_error, psycopg.errors.UndefinedTable):
                fail(f"the database has no lookalike schema, or an old one ({one_line(db_error)}): run "
                     "`lookalike db migrate`")
            if isinstance(db_error, psycopg.errors.InsufficientPrivilege):
                fail(f"the database refused this login ({one_line(db_error)}): is the schema current (`lookalike "
                     "db migrate`) and LOOKALIKE_SECRET the deployment's?")
            if isinstance(db_error, psycopg.OperationalError):
                fail(f"cannot use lookalike's database: {one_line(db_error)} (LOOKALIKE_DATABASE_URL, or the "
                     "embedded server: `lookalike db up`)")
            raise


def database_error(exc: BaseException) -> psycopg.Error | None:
    """The database driver's error behind ``exc``: itself, what SQLAlchemy wraps (``.orig``), or its cause."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, psycopg.Error):
            return exc
        exc = getattr(exc, "orig", None) or exc.__cause__ or exc.__context__
    return None


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def redact(conninfo: str) -> str:
    from psycopg.conninfo import conninfo_to_dict

    d = conninfo_to_dict(conninfo)
    if d.get("password"):
        d["password"] = "***"
    return " ".join(f"{k}={v}" for k, v in d.items())


def json_arg(value: str | None, what: str) -> dict | None:
    """A JSON object given inline or as @file."""
    if value is None:
        return None
    if value.startswith("@"):
        path = Path(value[1:])
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            fail(f"{what}: file not found: {path}")
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"{what}: cannot read {path}: {exc}")
    else:
        text = value
    try:
        out = json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"{what} is not valid JSON: {exc}")
    except RecursionError:
        fail(f"{what} is nested too deeply to be a valid definition")
    if not isinstance(out, dict):
        fail(f"{what} must be a JSON object")
    return out


def split_list(value: str) -> list[str]:
    return [c.strip() for c in value.split(",") if c.strip()]


def all_tenants() -> list[tuple[str, str, str]]:
    """(tenant id, slug, name) of every tenant."""
    from lookalike_assets.db.connect import admin_connection
    from lookalike_assets.db.queries import Q

    with admin_connection() as conn:
        return [(r[0], r[1], r[2]) for r in Q.tenants.list_tenants(conn)]


def resolve_tenants(refs: list[str] | None) -> list[tuple[str, str]]:
    """(tenant id, slug) for slugs or ids; every tenant when none are given."""
    from lookalike_assets.db.connect import admin_connection
    from lookalike_assets.db.queries import Q

    if not refs:
        return [(t, s) for t, s, _ in all_tenants()]
    out = []
    with admin_connection() as conn:
        for ref in refs:
            row = Q.tenants.tenant_by_slug(conn, slug=ref)
            if row is None:
                try:
                    uuid.UUID(ref)
                except ValueError:
                    row = None
                else:
                    row = Q.tenants.get_tenant(conn, tenant_id=ref)
            if row is None:
                fail(f"no tenant with slug or id {ref!r} (see `lookalike tenants list`)")
            out.append((row[0], row[1]))
    return out


def tenant(ref: str) -> uuid.UUID:
    return uuid.UUID(resolve_tenants([ref])[0][0])
