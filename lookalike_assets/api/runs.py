"""The Dagster runs behind the API's jobs and the studio's progress: a run's status for a poller, step by step."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import dagster as dg


def dagster_status(instance, tags: dict[str, str], since: datetime) -> tuple[str, Any]:
    """The newest Dagster run with these tags created after ``since``: its status for a poller, and the run
    (pending and None without one)."""
    runs = instance.get_run_records(dg.RunsFilter(tags=tags, created_after=since), limit=1)
    if not runs:
        return "pending", None
    run = runs[0].dagster_run
    status = {dg.DagsterRunStatus.SUCCESS: "completed", dg.DagsterRunStatus.FAILURE: "failed",
              dg.DagsterRunStatus.CANCELED: "failed"}.get(run.status, "running")
    if run.status in (dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED):
        status = "pending"
    return status, run


def run_steps(instance, tags: dict[str, str], since: datetime) -> dict | None:
    """The newest Dagster run with these tags created after ``since``, step by step: its status (as
    ``dagster_status``) and each planned step in order with its state (``done``, ``running``, ``failed``,
    ``skipped`` or ``waiting``); None before a run started."""
    status, run = dagster_status(instance, tags, since)
    if run is None:
        return None
    # a step's status by its value (the enum is not part of Dagster's public API)
    stats = {s.step_key: getattr(s.status, "value", None) for s in instance.get_run_step_stats(run.run_id)}
    plan = []
    if run.execution_plan_snapshot_id:
        snap = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
        plan = [st.key for st in snap.steps] if snap else []
    states = {"SUCCESS": "done", "FAILURE": "failed", "SKIPPED": "skipped", "IN_PROGRESS": "running"}
    steps = [(key, states.get(stats[key], "running") if key in stats else "waiting")
             for key in plan or list(stats)]
    return {"status": status, "steps": steps}


def run_failure(run) -> str | None:
    """Where to look when the run failed or was cancelled."""
    if run is None or run.status not in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED):
        return None
    return f"run {run.status.value.lower()}: see run {run.run_id} in the Dagster UI"
