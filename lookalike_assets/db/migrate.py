"""Schema migrations with Alembic. Revisions live in ``migrations/versions`` as plain SQL files
(one ``NNNN_name.sql`` and its ``NNNN_name.down.sql``) wrapped by a small revision module."""

from __future__ import annotations

from pathlib import Path

import psycopg
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def _engine(conninfo: str):
    return create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(conninfo), poolclass=NullPool)


def upgrade(conninfo: str, revision: str = "head") -> None:
    cfg = _config()
    engine = _engine(conninfo)
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)
    engine.dispose()


def downgrade(conninfo: str, revision: str = "base") -> None:
    cfg = _config()
    engine = _engine(conninfo)
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, revision)
    engine.dispose()


def current_revision(conninfo: str) -> str | None:
    engine = _engine(conninfo)
    with engine.connect() as connection:
        rev = MigrationContext.configure(connection).get_current_revision()
    engine.dispose()
    return rev


def head_revision() -> str:
    return ScriptDirectory.from_config(_config()).get_current_head()


def run_sql_file(name: str) -> None:
    """Run one SQL file of ``migrations/versions`` as is, through the driver (no bind-parameter parsing),
    inside Alembic's transaction for the revision."""
    from alembic import op

    sql = (MIGRATIONS_DIR / "versions" / name).read_text()
    op.get_bind().connection.driver_connection.execute(sql)
