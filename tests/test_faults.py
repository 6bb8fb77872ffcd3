"""Fault injection: `lookalike materialize` killed with SIGKILL at step boundaries and inside writes, and the
database stopped under a running step. After each fault every published audience is exactly the old one or the
new one (members, size and status together), no conversion fact or export record is lost, the dead run is marked
failed, and a plain re-run finishes at once.

The quick form (in `make test`) kills at the boundaries that matter most; `LOOKALIKE_FAULTS=all` kills at every
step boundary and every fault point of lookalike_assets/faults.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import pytest
from conftest import tenant_profile

from lookalike_assets.defs.helpers import TENANT_REFRESH_ASSETS
from lookalike_assets.faults import POINTS
from lookalike_assets.pipeline.conversions import rebuild_facts, record_conversions
from lookalike_assets.pipeline.demo import load_tenant

LOOKALIKE = str(Path(sys.executable).parent / "lookalike")
QUICK = ["after:ranking_model", "pools:after-first-audience",
         "memberships:after-first-audience", "exports:after-first-file"]
IN_A_REFRESH = [p for p in POINTS if not p.startswith(("import:", "facts:"))]
ALL = [f"after:{a}" for a in TENANT_REFRESH_ASSETS[:-1]] + IN_A_REFRESH
FAULTS = ALL if os.environ.get("LOOKALIKE_FAULTS") == "all" else QUICK


def run_cli(env: dict, *args: str, fault: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    e = {**env, **({"LOOKALIKE_FAULT": fault} if fault else {})}
    return subprocess.run([LOOKALIKE, *args], env=e, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def world(test_url, tmp_path_factory):
    """A demo tenant materialized once through the command line, with conversions attributed."""
    from lookalike_assets.db.connect import PIPELINE_ROLE, connect

    home = tmp_path_factory.mktemp("faults")
    env = {**os.environ, "LOOKALIKE_DATABASE_URL": test_url, "LOOKALIKE_HOME": str(home / "home"),
           "DAGSTER_HOME": str(home / "dagster"), "LOOKALIKE_ENCODER": "hashing"}
    env.pop("LOOKALIKE_FAULT", None)
    owner = connect(test_url)
    t = load_tenant(owner, tenant_profile(0, f"faults-{os.getpid()}"), 400, pool_size=60)
    res = run_cli(env, "materialize", "--tenant", t.slug)
    assert res.returncode == 0, res.stdout + res.stderr
    pipe = connect(test_url, role=PIPELINE_ROLE)
    leads = [r[0] for r in owner.execute(
        "select c.lead_id from lookalike_candidate c where c.tenant_id = %s order by c.lead_id limit 40",
        (t.tenant_id,))]
    day = datetime.now(timezone.utc) - timedelta(days=2)
    rec = record_conversions(pipe, t.tenant_id, [
        {"event_id": f"f-{lid}", "lead_id": str(lid), "event_type": "deal_closed", "occurred_at": day.isoformat()}
        for lid in leads])
    rebuild_facts(pipe, [str(t.tenant_id)], sorted(rec.days))
    pipe.close()
    yield {"env": env, "tenant": t, "owner": owner, "home": home}
    owner.close()


def snapshot(owner, tid) -> dict:
    audiences = {}
    for aid, name, status, size, members in owner.execute(
            "select a.audience_id, a.name, a.status, a.size_estimate, "
            "coalesce(array_agg(c.lead_id order by c.lead_id) filter (where c.lead_id is not null), '{}') "
            "from lookalike_audience a left join lookalike_audience_member m using (tenant_id, audience_id) "
            "left join lookalike_candidate c on c.tenant_id = m.tenant_id and c.candidate_id = m.candidate_id "
            "where a.tenant_id = %s group by 1, 2, 3, 4", (tid,)):
        audiences[aid] = (name, status, size, tuple(members))
    facts = set(owner.execute("select conversion_id, audience_id, lead_id from lookalike_conversion_fact "
                              "where tenant_id = %s", (tid,)).fetchall())
    exposures = set(owner.execute("select audience_id, lead_id from lookalike_exposure where tenant_id = %s",
                                  (tid,)).fetchall())
    return {"audiences": audiences, "facts": facts, "exposures": exposures}


def consistent(snap: dict) -> list[str]:
    """Published audiences whose stored size is not their member count (half of a write)."""
    return [name for name, status, size, members in snap["audiences"].values()
            if status == "published" and size != len(members)]


@pytest.mark.parametrize("fault", FAULTS)
def test_a_kill_leaves_every_audience_old_or_new_and_loses_nothing(world, fault):
    owner, t, env = world["owner"], world["tenant"], world["env"]
    before = snapshot(owner, t.tenant_id)
    assert before["facts"] and not consistent(before)
    # the next refresh must change the audiences: alternate the pool size
    size = 45 if any(len(m) > 45 for *_x, m in before["audiences"].values()) else 60
    with owner.transaction():
        owner.execute("update lookalike_audience set metadata = metadata || jsonb_build_object('pool_size', %s::int) "
                      "where tenant_id = %s", (size, t.tenant_id))

    killed = run_cli(env, "materialize", "--tenant", t.slug, fault=fault)
    assert killed.returncode == -9, f"the fault point {fault} was not reached:\n{killed.stdout}{killed.stderr}"
    during = snapshot(owner, t.tenant_id)
    assert not consistent(during), consistent(during)
    assert during["facts"] >= before["facts"] and during["exposures"] >= before["exposures"]

    started = time.monotonic()
    again = run_cli(env, "materialize", "--tenant", t.slug)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "stopped without finishing" in again.stdout and "marked failed" in again.stdout
    assert time.monotonic() - started < 100  # the dead run's lease was given back, not waited out (120 s)
    after = snapshot(owner, t.tenant_id)
    for aid, now in during["audiences"].items():
        assert now in (before["audiences"].get(aid), after["audiences"][aid]), (fault, now[0])
    assert after["facts"] >= before["facts"] and after["exposures"] >= during["exposures"]

    os.environ["DAGSTER_HOME"], old = env["DAGSTER_HOME"], os.environ.get("DAGSTER_HOME")
    try:
        with dg.DagsterInstance.get() as instance:
            statuses = [r.status for r in instance.get_runs(
                filters=dg.RunsFilter(tags={"lookalike/tenant": str(t.tenant_id)}), limit=2)]
    finally:
        if old is None:
            os.environ.pop("DAGSTER_HOME")
        else:
            os.environ["DAGSTER_HOME"] = old
    assert statuses == [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE]


def test_a_killed_import_changes_nothing(world, tmp_path):
    owner, t, env = world["owner"], world["tenant"], world["env"]
    count = owner.execute("select count(*) from leads where tenant_id = %s", (t.tenant_id,)).fetchone()[0]
    f = tmp_path / "more.csv"
    f.write_text("id,title,industry\n" + "".join(f"k{i},CFO,software\n" for i in range(500)))
    killed = run_cli(env, "leads", "import", str(f), "--tenant", t.slug, fault="import:before-commit")
    assert killed.returncode == -9
    assert owner.execute("select count(*) from leads where tenant_id = %s", (t.tenant_id,)).fetchone()[0] == count


def test_the_database_stopped_under_a_step(tmp_path):
    """A separate embedded server, stopped while a step waits: the run fails saying the database is unreachable
    (not that a lock could not be released), and a re-run after the restart finishes."""
    from lookalike_assets.db import embedded
    from lookalike_assets.db.admin import prepare_database
    from lookalike_assets.db.connect import connect, with_database

    pgdata = Path(tempfile.mkdtemp(prefix="lkf-", dir="/tmp")) / "pg"  # a short socket path
    try:
        url = with_database(embedded.start(pgdata), "lookalike")
        env = {**os.environ, "LOOKALIKE_DATABASE_URL": url, "LOOKALIKE_HOME": str(tmp_path / "home"),
               "DAGSTER_HOME": str(tmp_path / "dagster"), "LOOKALIKE_ENCODER": "hashing",
               "LOOKALIKE_FAULT_MARK": str(tmp_path / "paused")}
        from lookalike_assets.db.connect import ensure_database

        ensure_database(url)
        prepare_database(url)
        with connect(url) as owner:
            t = load_tenant(owner, tenant_profile(1, "outage"), 150, pool_size=40)
        proc = subprocess.Popen([LOOKALIKE, "materialize", "--tenant", t.slug],
                                env={**env, "LOOKALIKE_FAULT": "pause:after:lead_embeddings"},
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        mark = tmp_path / "paused"
        deadline = time.monotonic() + 120
        while not mark.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert mark.exists(), proc.communicate()[0]
        embedded.stop(pgdata)
        mark.unlink()
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 1, out
        text = " ".join(out.split())
        assert "failed" in text and "seed_profiles" in text, text
        assert any(s in text for s in ("connection failed", "Connection refused", "No such file or directory",
                                       "could not connect", "server closed the connection")), text
        assert "the connection is closed" not in text, text
        embedded.start(pgdata)
        again = run_cli(env, "materialize", "--tenant", t.slug)
        assert again.returncode == 0, again.stdout + again.stderr
    finally:
        embedded.stop(pgdata)
        shutil.rmtree(pgdata.parent, ignore_errors=True)
