"""Tests run against a real PostgreSQL with pgvector: the embedded server (database ``lookalike_test``), or
the server of LOOKALIKE_TEST_DATABASE_URL / LOOKALIKE_DATABASE_URL. No mocks of what can run here."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from lookalike_assets.settings import Settings  # noqa: E402

# Every process of the test run (CLI runs with their own LOOKALIKE_HOME, subprocesses) derives the service
# logins' passwords from one secret: the same as this checkout's, since roles are shared by the server's databases.
os.environ.setdefault("LOOKALIKE_SECRET", Settings().secret_value())

from lookalike_assets.db.admin import prepare_database  # noqa: E402
from lookalike_assets.db.connect import PIPELINE_ROLE, connect, server_url, with_database  # noqa: E402
from lookalike_assets.domain.demo_data import TENANTS  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
BANK_CSV = SHARED / "datasets" / "bank-marketing" / "bank-full.csv"


def _recreate(url: str) -> None:
    params = conninfo_to_dict(url)
    dbname = params["dbname"]
    maint = make_conninfo(**{**params, "dbname": "postgres"})
    with psycopg.connect(maint, autocommit=True) as c:
        c.execute(psycopg.sql.SQL("drop database if exists {} with (force)").format(psycopg.sql.Identifier(dbname)))
        c.execute(psycopg.sql.SQL("create database {}").format(psycopg.sql.Identifier(dbname)))


@pytest.fixture(scope="session")
def test_url() -> str:
    url = os.environ.get("LOOKALIKE_TEST_DATABASE_URL")
    if not url:
        url = with_database(server_url(), "lookalike_test")
    _recreate(url)
    prepare_database(url)
    # The whole session points at the test database: the code location's resources read LOOKALIKE_DATABASE_URL
    # when a run starts (dg.EnvVar), whichever test happened to load the definitions first.
    os.environ["LOOKALIKE_DATABASE_URL"] = url
    return url


@pytest.fixture
def owner(test_url):
    """The owner's connection: administration (tenants, settings, inspecting across tenants)."""
    c = connect(test_url)
    yield c
    c.close()


@pytest.fixture
def app(test_url):
    """The application's service login: what the CLI uses for people's writes (the sensors see them)."""
    from lookalike_assets.db.connect import APP_ROLE

    c = connect(test_url, role=APP_ROLE)
    yield c
    c.close()


@pytest.fixture
def conn(test_url):
    """The pipeline's service login: what asset code uses for tenant work."""
    c = connect(test_url, role=PIPELINE_ROLE)
    yield c
    c.close()


def tenant_profile(base: int, slug: str):
    """A demo tenant profile under another slug, so that tests own their tenants."""
    return dataclasses.replace(TENANTS[base], slug=slug, name=slug.replace("-", " ").title())


_slugs = itertools.count(1)


@pytest.fixture
def new_slug():
    """Unique slugs, the same on every run (the test database is recreated per session), so that the
    generated tenants, and so the tests, are deterministic."""
    return lambda prefix="t": f"{prefix}-{next(_slugs):04d}"


@pytest.fixture(scope="session")
def two_tenants(test_url):
    """Two small demo tenants (A: software, B: real estate), loaded and fully built with the hashing encoder."""
    return built_tenants(test_url, [(0, "rls-a"), (1, "rls-b")], 400, pool_size=150)


def built_tenants(url: str, profiles: list[tuple[int, str]], leads: int, pool_size: int) -> list:
    """Demo tenants (profile number, slug) of ``leads`` leads each, loaded and fully built with the hashing
    encoder."""
    from lookalike_assets.pipeline.demo import load_tenant

    own, pipe = connect(url), connect(url, role=PIPELINE_ROLE)
    try:
        out = []
        for base, slug in profiles:
            t = load_tenant(own, tenant_profile(base, slug), leads, pool_size=pool_size)
            build_tenant(pipe, t.tenant_id, pool_size)
            out.append(t)
        return out
    finally:
        own.close()
        pipe.close()


def build_tenant(conn, tenant_id, pool_size: int = 100, encoder: str = "hashing", memberships: bool = True):
    """features -> embeddings -> seed profiles -> pools -> memberships (which publish the pools) -> segments of one
    tenant, as the assets do, on the pipeline's login ``conn``. ``memberships=False`` leaves the pools staged."""
    from lookalike_assets.domain.encoder_choice import get_encoder
    from lookalike_assets.pipeline.embeddings import refresh_embeddings
    from lookalike_assets.pipeline.features import refresh_lead_features
    from lookalike_assets.pipeline.memberships import refresh_memberships
    from lookalike_assets.pipeline.pools import refresh_candidate_pools, refresh_seed_profiles
    from lookalike_assets.pipeline.segments import refresh_segments

    f = refresh_lead_features(conn, tenant_id)
    e = refresh_embeddings(conn, tenant_id, get_encoder(encoder))
    p = refresh_seed_profiles(conn, tenant_id, e.model_version)
    c = refresh_candidate_pools(conn, tenant_id, pool_size)
    m = refresh_memberships(conn, tenant_id) if memberships else None
    if memberships:
        refresh_segments(conn, tenant_id)
    return f, e, p, c, m


@pytest.fixture
def cli_env(monkeypatch, test_url, tmp_path):
    """The CLI against the test database, with its own LOOKALIKE_HOME and Dagster instance."""
    from lookalike_assets.settings import get_settings

    monkeypatch.setenv("LOOKALIKE_DATABASE_URL", test_url)
    monkeypatch.setenv("LOOKALIKE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    monkeypatch.setenv("LOOKALIKE_ENCODER", "hashing")
    get_settings.cache_clear()
    yield tmp_path / "home"
    get_settings.cache_clear()


def cli(*args: str, input: str | None = None) -> tuple[int, str]:
    """Run `lookalike ARGS`; (exit code, output). An unexpected exception is raised, not hidden."""
    from typer.testing import CliRunner

    from lookalike_assets.cli import app

    res = CliRunner().invoke(app, list(args), input=input)
    if res.exception and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res.exit_code, res.output


def dbt(test_url: str, *args: str):
    """dbt against the test database, as the owner (the marts span tenants)."""
    import subprocess
    import sys

    from lookalike_assets.db.connect import dbt_env

    env = {**os.environ, **dbt_env(test_url)}
    return subprocess.run([str(Path(sys.executable).parent / "dbt"), *args, "--project-dir", str(REPO / "dbt_project"),
                           "--profiles-dir", str(REPO / "dbt_project")],
                          env=env, capture_output=True, text=True, cwd=REPO / "dbt_project")


@pytest.fixture(scope="session")
def marts_built(test_url, two_tenants):
    """The two tenants with simulated outcomes and their facts, and every dbt model built (with its tests)."""
    import tempfile

    from lookalike_assets.domain.exports import LocalFolderDestination
    from lookalike_assets.pipeline.conversions import rebuild_facts, simulate_demo_conversions
    from lookalike_assets.pipeline.exports import run_exports

    c = connect(test_url, role=PIPELINE_ROLE)
    days = set()
    for t in two_tenants:
        # exported first, as the demo is: a holdout's study starts at an export (treatment) and a held-out draw
        run_exports(c, t.tenant_id, LocalFolderDestination(tempfile.mkdtemp(prefix="lk-marts-")),
                    backoff_seconds=0.01)
        days |= simulate_demo_conversions(c, t.tenant_id).days
    rebuild_facts(c, [str(t.tenant_id) for t in two_tenants], sorted(days))
    c.close()
    res = dbt(test_url, "build")
    assert res.returncode == 0, res.stdout[-4000:]
    return res


@contextlib.contextmanager
def served(app):
    """``app`` served by uvicorn on a free loopback port in a thread, as `lookalike api` serves it; yields its base
    URL."""
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(10)


def spec_of(conn, tenant_id):
    """The tenant's feature spec (read in a tenant transaction, as the pipeline reads it)."""
    from lookalike_assets.db.connect import tenant_transaction
    from lookalike_assets.pipeline.features import load_spec

    with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
        return load_spec(conn, tenant_id)


# Modules that load the text encoder in this process, where this machine's calibration may choose OpenVINO. Once
# OpenVINO is loaded, a later in-process Dagster run whose compute logs redirect the file descriptors pytest
# captures (the CLI's `marts` under CliRunner) ends the session fatally ("I/O operation on closed file", "lost
# sys.stderr"); it does not happen without pytest's capture (`-s`), nor in the CLI itself. These modules run last.
LOADS_OPENVINO = ("test_encoders", "test_dagster", "test_describe", "test_feedback_e2e")


def pytest_collection_modifyitems(session, config, items):
    items.sort(key=lambda item: item.module.__name__.rsplit(".", 1)[-1] in LOADS_OPENVINO)
