"""docker-compose.yml cannot run here (no Docker engine): validate it and check its wiring."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml
from conftest import REPO


def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_compose_has_database_webserver_and_daemon_wired_alike():
    c = compose()
    services = c["services"]
    assert services["postgres"]["image"].startswith("pgvector/pgvector:pg16")
    for name in ("dagster-webserver", "dagster-daemon", "migrate"):
        env = services[name]["environment"]
        assert env["LOOKALIKE_DATABASE_URL"].endswith("@postgres:5432/${POSTGRES_DB:-lookalike}")
        assert env["DAGSTER_HOME"] == "/opt/dagster/home"
    assert "dagster-daemon" in services["dagster-daemon"]["command"]
    assert services["dagster-webserver"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose (config validator) not installed")
def test_compose_validates():
    res = subprocess.run(["docker-compose", "-f", str(REPO / "docker-compose.yml"), "config", "-q"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
