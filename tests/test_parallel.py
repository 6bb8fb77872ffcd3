"""Two tenant partitions materialize at the same time, each run on Dagster's multiprocess executor (every step
in its own process). Nothing is shared between partitions but the database; the advisory lock only serializes
runs of the same tenant."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
from conftest import tenant_profile

from lookalike_assets.db.connect import PIPELINE_ROLE, tenant_transaction
from lookalike_assets.defs.partitions import TENANTS_PARTITION
from lookalike_assets.pipeline.demo import load_tenant


def test_two_partitions_in_parallel_on_the_multiprocess_executor(owner, conn, test_url, new_slug, tmp_path):
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**os.environ, "LOOKALIKE_DATABASE_URL": test_url, "LOOKALIKE_ENCODER": "hashing",
           "LOOKALIKE_HOME": str(tmp_path / "home"), "DAGSTER_HOME": str(home)}
    tenants = [load_tenant(owner, tenant_profile(i, new_slug("par")), 300, pool_size=60) for i in (0, 1)]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions(TENANTS_PARTITION, [str(t.tenant_id) for t in tenants])
    script = Path(__file__).with_name("parallel_job.py")
    procs = [subprocess.Popen([sys.executable, str(script), str(t.tenant_id)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=str(script.parent)) for t in tenants]
    outs = [p.communicate(timeout=600) for p in procs]
    results = [json.loads(out.strip().splitlines()[-1]) for out, _err in outs]
    assert all(r["success"] for r in results), [err[-2000:] for _out, err in outs]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        stats = [instance.get_run_stats(r["run_id"]) for r in results]
        assert max(s.start_time for s in stats) < min(s.end_time for s in stats), "the runs did not overlap"
        for r in results:  # every step ran in a process of its own
            pids = {e.dagster_event.pid for e in instance.all_logs(r["run_id"])
                    if e.dagster_event and e.dagster_event.is_step_start}
            assert len(pids) >= 2
    for t in tenants:
        with tenant_transaction(conn, t.tenant_id, PIPELINE_ROLE):
            assert conn.execute("select count(*) from lookalike_audience_member").fetchone()[0] > 0


def test_two_runs_of_one_tenant_do_not_interleave(owner, test_url, new_slug, tmp_path):
    """The tenant lease is held for a whole run: a second run of the same tenant waits at its first step until
    the first run has finished every step, then does its own."""
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**os.environ, "LOOKALIKE_DATABASE_URL": test_url, "LOOKALIKE_ENCODER": "hashing",
           "LOOKALIKE_HOME": str(tmp_path / "home"), "DAGSTER_HOME": str(home)}
    t = load_tenant(owner, tenant_profile(2, new_slug("twice")), 300, pool_size=60)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions(TENANTS_PARTITION, [str(t.tenant_id)])
    script = Path(__file__).with_name("parallel_job.py")
    procs = [subprocess.Popen([sys.executable, str(script), str(t.tenant_id), "in-process"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(script.parent))
             for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    results = [json.loads(out.strip().splitlines()[-1]) for out, _err in outs]
    assert all(r["success"] for r in results), [err[-2000:] for _out, err in outs]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        done = {r["run_id"]: sorted(e.timestamp for e in instance.all_logs(r["run_id"])
                                    if e.dagster_event and e.dagster_event.is_step_success) for r in results}
    first, second = sorted(done.values(), key=lambda ts: ts[0])
    from lookalike_assets.defs.helpers import TENANT_REFRESH_ASSETS

    assert len(first) == len(second) == len(TENANT_REFRESH_ASSETS)  # every step of each run
    assert first[-1] <= second[0], "a step of the second run finished while the first run was still working"
    # and the lease went at the first run's real end (its steps finish in either order: the exports and the
    # destination syncs are independent), not when its heartbeat aged (LOOKALIKE_LEASE_TTL_SECONDS, 120 s)
    assert second[0] - first[-1] < 60, "the second run waited for the first run's lease to age"
