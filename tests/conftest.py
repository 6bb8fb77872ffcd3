"""Tests run against a real PostgreSQL with pgvector: the embedded server (database ``lookalike_test``), or
the server of LOOKALIKE_TEST_DATABASE_URL / LOOKALIKE_DATABASE_URL. No mocks of what can run here."""

from __future__ import annotations

import dataclasses
import itertools
import os
import warnings
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
warnings.filterwarnings("ignore", category=DeprecationWarning)

from lookalike_assets.db import migrate  # noqa: E402
from lookalike_assets.db.connect import connect, server_url, with_database  # noqa: E402
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
    migrate.upgrade(url)
    return url


@pytest.fixture
def conn(test_url):
    c = connect(test_url)
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
    from lookalike_assets.pipeline.demo import load_tenant

    c = connect(test_url)
    out = []
    for base, slug in ((0, "rls-a"), (1, "rls-b")):
        t = load_tenant(c, tenant_profile(base, slug), 400, pool_size=150)
        build_tenant(c, t.tenant_id, 150)
        out.append(t)
    c.close()
    return out


def build_tenant(conn, tenant_id, pool_size: int = 100, encoder: str = "hashing", memberships: bool = False):
    """features -> embeddings -> seed profiles -> pools (-> memberships) of one tenant, as the assets do."""
    from lookalike_assets.domain.encoders import get_encoder
    from lookalike_assets.pipeline.embeddings import refresh_embeddings
    from lookalike_assets.pipeline.features import refresh_lead_features
    from lookalike_assets.pipeline.memberships import refresh_memberships
    from lookalike_assets.pipeline.pools import refresh_candidate_pools, refresh_seed_profiles

    f = refresh_lead_features(conn, tenant_id)
    e = refresh_embeddings(conn, tenant_id, get_encoder(encoder))
    p = refresh_seed_profiles(conn, tenant_id, e.model_version)
    c = refresh_candidate_pools(conn, tenant_id, pool_size)
    m = refresh_memberships(conn, tenant_id) if memberships else None
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
