"""The Docker deployment cannot run here (no Docker engine): its compose file is validated against the Compose
Specification, its wiring checked, and the image's build steps are run on a tree shaped like the build context
to show that the code location it ships has every asset, the dbt ones included."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from conftest import REPO

sys.path.insert(0, str(REPO / "deploy"))
import check_compose  # noqa: E402

BIN = Path(sys.executable).parent
LONG_RUNNING = ("postgres", "code-server", "dagster-webserver", "dagster-daemon", "metabase")


def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_the_compose_file_validates():
    assert check_compose.problems(REPO / "docker-compose.yml", env={}) == []
    # and the check finds what is wrong
    bad = REPO / "docker-compose.yml"
    broken = bad.read_text().replace("    image: pgvector/pgvector:pg16", "    imagee: pgvector/pgvector:pg16")
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"compose-{os.getpid()}.yml"
    path.write_text(broken)
    try:
        assert any("imagee" in p for p in check_compose.problems(path, env={}))
    finally:
        path.unlink()
    # a secret is required: the file refuses to start without one
    try:
        check_compose.problems(REPO / "docker-compose.yml", env={"LOOKALIKE_SECRET": ""})
    except ValueError as exc:
        assert "LOOKALIKE_SECRET" in str(exc)
    else:
        raise AssertionError("an empty LOOKALIKE_SECRET was accepted")


def test_compose_has_every_service_a_production_user_starts():
    services = compose()["services"]
    assert {"postgres", "migrate", "code-server", "dagster-webserver", "dagster-daemon", "metabase",
            "metabase-setup"} <= set(services)
    assert services["postgres"]["image"].startswith("pgvector/pgvector:pg16")
    for name in LONG_RUNNING:
        assert "healthcheck" in services[name], name
    env = compose()["x-lookalike-env"]
    assert env["LOOKALIKE_DATABASE_URL"].endswith("@postgres:5432/${POSTGRES_DB:-lookalike}")
    assert env["DAGSTER_HOME"] == "/opt/dagster/home"
    # the webserver and the daemon load the code location from the code server
    for name in ("dagster-webserver", "dagster-daemon"):
        assert "deploy/workspace.yaml" in services[name]["command"]
        assert services[name]["depends_on"]["code-server"]["condition"] == "service_healthy"
    workspace = yaml.safe_load((REPO / "deploy" / "workspace.yaml").read_text())
    server = workspace["load_from"][0]["grpc_server"]
    assert server["host"] == "code-server" and str(server["port"]) in services["code-server"]["command"]
    # Metabase keeps its own application database, created beside lookalike's
    assert "CREATE DATABASE metabase" in (REPO / "deploy" / "initdb" / "01-dagster-db.sql").read_text()
    assert services["metabase"]["environment"]["MB_DB_DBNAME"] == "metabase"
    assert services["metabase-setup"]["command"][:3] == ["lookalike", "bi", "metabase"]


def dockerignored(rel: str, patterns: list[str]) -> bool:
    parts = rel.split("/")
    return any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(parts[0], p) or any(
        fnmatch.fnmatch("/".join(parts[:i]), p.rstrip("/")) for i in range(1, len(parts) + 1)) for p in patterns)


def build_context(dest: Path) -> None:
    """What `docker build` would see: the files of a clone (tracked, and new ones git does not ignore) minus
    .dockerignore, placed where the Dockerfile's COPY lines put them."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                           text=True, check=True).stdout.split()
    patterns = [p.strip() for p in (REPO / ".dockerignore").read_text().splitlines() if p.strip()
                and not p.startswith("#")]
    dockerfile = (REPO / "Dockerfile").read_text()
    for line in dockerfile.splitlines():
        m = re.match(r"COPY\s+(?!--)(.+)\s+(\S+)$", line.strip())
        if not m:
            continue
        sources, target = m.group(1).split(), m.group(2)
        if target.startswith("/"):
            continue  # into the image's system folders (the Dagster instance config)
        for src in sources:
            for rel in files:
                if (rel == src or rel.startswith(src.rstrip("/") + "/")) and not dockerignored(rel, patterns) \
                        and (REPO / rel).is_file():
                    out = dest / (rel if target in ("./", ".") else Path(target) / Path(rel).relative_to(src))
                    out.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(REPO / rel, out)


def test_the_image_build_steps_ship_the_whole_code_location(tmp_path):
    tree = tmp_path / "opt" / "lookalike"
    build_context(tree)
    assert not (tree / "dbt_project" / "target").exists(), "the build context must not carry a prepared manifest"
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "PYTHONPATH": str(tree),
           "DAGSTER_HOME": str(tmp_path / "dagster"), "LOOKALIKE_HOME": str(tmp_path / "home")}
    (tmp_path / "dagster").mkdir()
    (tmp_path / "dagster" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    # without the manifest the code location refuses to load, saying how to make it
    res = subprocess.run([str(BIN / "python"), "-c", "import lookalike_assets.definitions"], cwd=tree, env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode != 0 and "dbt manifest" in res.stderr and "make install" in res.stderr, res.stderr[-2000:]
    # the Dockerfile's build steps (RUN lines after the install), run in the tree
    steps = [line.strip()[4:] for line in (REPO / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
             if line.strip().startswith("RUN ") and ("dagster-dbt" in line or "definitions validate" in line)]
    assert len(steps) == 2, steps
    for step in steps:
        res = subprocess.run(["bash", "-c", step], cwd=tree, env=env, capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, (step, (res.stdout + res.stderr)[-3000:])
    assert (tree / "dbt_project" / "target" / "manifest.json").exists()
    res = subprocess.run([str(BIN / "python"), "-c", (
        "import json; from lookalike_assets.definitions import defs; "
        "print(json.dumps(sorted(k.to_user_string() for k in defs.resolve_all_asset_keys())))")],
        cwd=tree, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    shipped = json.loads(res.stdout.strip().splitlines()[-1])
    from lookalike_assets.definitions import defs

    assert shipped == sorted(k.to_user_string() for k in defs.resolve_all_asset_keys())
    assert any(k.startswith("marts/") for k in shipped) and len(shipped) >= 30
