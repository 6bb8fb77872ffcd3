"""The command line and the migrations."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from lookalike_assets.cli import app
from lookalike_assets.db import migrate
from lookalike_assets.db.connect import with_database

runner = CliRunner()


COMMANDS = [[], ["db"], ["db", "up"], ["db", "down"], ["db", "migrate"], ["db", "url"], ["demo"], ["materialize"],
            ["marts"], ["summary"], ["tenants"], ["tenants", "list"], ["tenants", "create"], ["import-leads"],
            ["seeds"], ["seeds", "add"], ["seeds", "list"], ["seeds", "remove"], ["audiences"],
            ["audiences", "create"], ["audiences", "list"], ["audiences", "show"], ["audiences", "publish"],
            ["audiences", "retire"], ["encoder"], ["encoder", "show"], ["encoder", "calibrate"], ["destinations"],
            ["destinations", "add"], ["destinations", "list"], ["destinations", "test"], ["destinations", "update"],
            ["destinations", "remove"], ["destinations", "sync"]]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a) or "lookalike")
def test_every_command_has_help(args):
    res = runner.invoke(app, [*args, "--help"])
    assert res.exit_code == 0, res.output
    assert "Usage" in res.output


def test_demo_rejects_bad_options():
    res = runner.invoke(app, ["demo", "--tenants", "9"])
    assert res.exit_code != 0
    assert "tenants" in res.output


def test_migrations_go_down_and_up_again(test_url):
    url = with_database(test_url, "lookalike_migrations")
    params = psycopg.conninfo.conninfo_to_dict(test_url)
    maint = psycopg.conninfo.make_conninfo(**{**params, "dbname": "postgres"})
    with psycopg.connect(maint, autocommit=True) as c:
        c.execute("drop database if exists lookalike_migrations with (force)")
        c.execute("create database lookalike_migrations")
    migrate.upgrade(url)
    assert migrate.current_revision(url) == migrate.head_revision()
    migrate.downgrade(url, "base")
    assert migrate.current_revision(url) is None
    with psycopg.connect(url) as c:
        assert c.execute("select to_regclass('leads')").fetchone()[0] is None
    migrate.upgrade(url)
    migrate.upgrade(url)  # idempotent
    assert migrate.current_revision(url) == migrate.head_revision()


def test_every_foreign_key_has_an_index_that_starts_with_its_columns(owner):
    """Deleting a lead (or a tenant, with every lead) looks each row up in every table that references it; without
    an index led by the referencing columns that is a scan per row (a tenant of 45,000 leads took minutes)."""
    rows = owner.execute("""
        select c.conrelid::regclass::text, c.conname, c.conkey,
               exists (select 1 from pg_index i where i.indrelid = c.conrelid
                       and (i.indkey::int2[])[0:cardinality(c.conkey) - 1] @> c.conkey
                       and (i.indkey::int2[])[0:cardinality(c.conkey) - 1] <@ c.conkey)
        from pg_constraint c join pg_namespace n on n.oid = c.connamespace
        where c.contype = 'f' and n.nspname = 'public'""").fetchall()
    assert rows
    missing = [f"{table}.{name}" for table, name, _cols, ok in rows if not ok]
    assert not missing, missing


def test_every_setting_is_documented_in_the_readme():
    from conftest import REPO

    from lookalike_assets.settings import Settings

    readme = (REPO / "README.md").read_text()
    table = readme[readme.index("## Configuration"):readme.index("## Performance")]
    missing = [f"LOOKALIKE_{name.upper()}" for name in Settings.model_fields
               if f"`LOOKALIKE_{name.upper()}`" not in table]
    assert not missing, missing


def test_resources_declare_no_setting_of_their_own():
    """One declaration of each setting: a resource field named like a setting takes its default from it."""
    from lookalike_assets.resources import default_resources
    from lookalike_assets.settings import Settings

    for key, resource in default_resources().items():
        for name, field in type(resource).model_fields.items():
            if name in Settings.model_fields:
                assert field.default == Settings.model_fields[name].default, (key, name)


def test_a_missing_or_unmigrated_database_is_one_clear_line_and_exit_2(cli_env, monkeypatch, test_url):
    from conftest import cli
    from psycopg.conninfo import make_conninfo

    from lookalike_assets.settings import get_settings

    def against(dbname: str) -> tuple[int, str]:
        monkeypatch.setenv("LOOKALIKE_DATABASE_URL", make_conninfo(test_url, dbname=dbname))
        get_settings.cache_clear()
        return cli("tenants", "list")

    code, out = against("lookalike_no_such_db")
    assert code == 2 and "Traceback" not in out
    assert "cannot use lookalike's database" in out and '"lookalike_no_such_db" does not exist' in " ".join(out.split())
    # the migrations too (through SQLAlchemy, which wraps the driver's error)
    monkeypatch.setenv("LOOKALIKE_DATABASE_URL", make_conninfo(test_url, dbname="lookalike_no_such_db"))
    get_settings.cache_clear()
    code, out = cli("db", "migrate")
    assert code == 2 and "cannot use lookalike's database" in out
    with psycopg.connect(test_url, autocommit=True) as admin:
        admin.execute("drop database if exists lookalike_empty_db")
        admin.execute("create database lookalike_empty_db")
    try:
        code, out = against("lookalike_empty_db")
        assert code == 2 and "no lookalike schema" in out and "lookalike db migrate" in out
    finally:
        with psycopg.connect(test_url, autocommit=True) as admin:
            admin.execute("drop database if exists lookalike_empty_db (force)")


def _env_value(name: str, test_url: str, tmp_path) -> str | None:
    """A valid value of a setting as its environment variable would carry it (its default where it has one)."""
    import json
    from datetime import date

    from lookalike_assets.settings import Settings

    special = {"database_url": test_url, "home": str(tmp_path / "home"), "encoder": "hashing",
               "alert_webhook_url": "http://127.0.0.1:9/hook", "secret": os.environ.get("LOOKALIKE_SECRET")}
    if name in special:
        return special[name]
    value = Settings.model_fields[name].get_default(call_default_factory=True)
    if isinstance(value, dict):
        return json.dumps(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def test_the_code_location_loads_and_runs_with_every_setting_given_by_its_environment_variable(
        test_url, tmp_path, monkeypatch):
    """A deployment sets LOOKALIKE_POOL_SIZE=2000 and the like: the code location loads (a resource field bound to an
    environment variable held a placeholder that failed the field's bounds) and a run reads the value."""
    import subprocess
    import sys

    import dagster as dg

    from lookalike_assets.defs.audiences.resources import audience_resources
    from lookalike_assets.defs.feedback.resources import feedback_resources
    from lookalike_assets.defs.leads.resources import leads_resources
    from lookalike_assets.defs.resources import shared_resources
    from lookalike_assets.settings import Settings, get_settings

    env = {f"LOOKALIKE_{n.upper()}": v for n in Settings.model_fields
           if (v := _env_value(n, test_url, tmp_path)) is not None}
    env["LOOKALIKE_POOL_SIZE"] = "1234"
    for name, value in env.items():  # each alone, in this process
        monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        for make in (shared_resources, leads_resources, audience_resources, feedback_resources):
            make()
    get_settings.cache_clear()
    with dg.build_resources(shared_resources()) as res:
        assert res.lookalike.pool_size == 1234  # resolved when the run starts
    # all of them at once, as `dagster definitions validate` loads the code location
    res = subprocess.run([str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-m",
                          "lookalike_assets.definitions"], env={**os.environ, **env}, capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    get_settings.cache_clear()


def test_an_invalid_setting_in_the_environment_is_refused_naming_it(monkeypatch):
    from lookalike_assets.defs.resources import shared_resources
    from lookalike_assets.settings import get_settings

    monkeypatch.setenv("LOOKALIKE_POOL_SIZE", "0")
    get_settings.cache_clear()
    try:
        with pytest.raises(ValueError, match="LOOKALIKE_POOL_SIZE"):
            shared_resources()
    finally:
        get_settings.cache_clear()
