"""A snapshot of the code location: asset keys with their groups, partitions, upstream keys, owners and kinds;
each job's selection; schedules and sensors with what they target. An accidental change (an asset leaving a job's
selection, a sensor pointing elsewhere) shows up in review as a diff of tests/snapshots/definitions.json.

After an intended change: `LOOKALIKE_UPDATE_SNAPSHOT=1 make test PYTEST_ARGS=tests/test_definitions_snapshot.py`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

SNAPSHOT = Path(__file__).with_name("snapshots") / "definitions.json"


def describe() -> dict:
    import dagster as dg

    from lookalike_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        partitions = node.partitions_def
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "partitions": None if partitions is None else getattr(partitions, "name", None) or type(partitions).__name__,
            "upstream": sorted(k.to_user_string() for k in node.parent_keys),
            "owners": sorted(node.owners),
            "kinds": sorted(node.kinds),
            "materializable": node.is_materializable,
            "checks": sorted(c.name for c in node.check_keys),
        }
    jobs = {}
    for job in sorted(defs.resolve_all_job_defs(), key=lambda j: j.name):
        if job.name.startswith("__"):
            continue
        keys = job.asset_layer.selected_asset_keys if job.asset_layer else set()
        jobs[job.name] = sorted(k.to_user_string() for k in keys)
    schedules = {s.name: {"cron": s.cron_schedule, "job": s.job_name, "timezone": s.execution_timezone,
                          "default_status": s.default_status.value}
                 for s in sorted(defs.schedules or [], key=lambda s: s.name)}
    sensors = {}
    for s in sorted({s.name: s for s in defs.sensors or []}.values(), key=lambda s: s.name):
        sensors[s.name] = {"jobs": sorted(t.job_name for t in s.targets), "interval": s.minimum_interval_seconds,
                           "default_status": s.default_status.value}
    resources = sorted(defs.resources or {})
    return {"assets": assets, "jobs": jobs, "schedules": schedules, "sensors": sensors, "resources": resources,
            "dagster": dg.__version__.split(".")[0] + "." + dg.__version__.split(".")[1]}


def test_definitions_match_the_snapshot():
    now = describe()
    if os.environ.get("LOOKALIKE_UPDATE_SNAPSHOT"):
        SNAPSHOT.write_text(json.dumps(now, indent=1, sort_keys=True) + "\n")
    assert SNAPSHOT.exists(), "no snapshot yet: run with LOOKALIKE_UPDATE_SNAPSHOT=1 and commit it"
    recorded = json.loads(SNAPSHOT.read_text())
    assert now == recorded, ("the code location changed; if intended, update the snapshot "
                             "(LOOKALIKE_UPDATE_SNAPSHOT=1) and review the diff of tests/snapshots/definitions.json")


def test_loading_the_code_location_says_its_beta_use_once():
    """Issue 33 §9: every command that loads the pipeline printed 25 blocks of Dagster's BetaWarning (one per asset
    for the code references). The beta use is said once, in one warning of the same category; nothing is hidden:
    Dagster's own warnings that do not come from our use (a sensor's owners, inside Dagster) stay."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    res = subprocess.run([sys.executable, "-c", "import lookalike_assets.definitions as d; d.defs.get_repository_def()"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    betas = [line for line in res.stderr.splitlines() if "BetaWarning" in line]
    ours = [line for line in betas if "lookalike links each asset to its code" in line]
    assert len(ours) == 1 and "with_source_code_references" in ours[0], res.stderr[-3000:]
    assert len(betas) <= 3, betas
