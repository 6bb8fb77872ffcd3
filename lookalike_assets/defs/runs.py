"""Runs that stopped without finishing: found, marked failed, and their tenant lease given back.

A run whose process was killed (kill -9, out of memory, a lost machine) stays STARTED in Dagster's storage, and
with the one-run-per-tenant queue limit it would block its tenant forever. Dagster's run monitoring (configured in
every dagster.yaml lookalike writes or ships) fails runs stuck while starting or cancelling and runs past their
maximum runtime, and the code server fails a run whose worker subprocess died. What is left is found here:

- a run started by the command line on this machine (tags ``lookalike/host`` and ``lookalike/pid``) whose process
  is gone;
- any other tenant run that holds no live lease of its tenant and has logged nothing for longer than a lease
  could be waited for (the code server that ran it is gone).

``dead_runs_sensor`` does this every minute in a deployment; ``lookalike materialize`` does it before it starts.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass

import dagster as dg

from lookalike_assets.db.connect import PIPELINE_ROLE, parse_tenant_id, tenant_transaction
from lookalike_assets.db.queries import Q
from lookalike_assets.defs.jobs import TENANT_TAG
from lookalike_assets.defs.resources import LookalikeDatabase

HOST_TAG = "lookalike/host"
PID_TAG = "lookalike/pid"
ACTIVE = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING]


def process_tags() -> dict[str, str]:
    """Tags naming the process that executes a run in-process (the command line)."""
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class DeadRun:
    run_id: str
    tenant: str | None
    reason: str


def _last_event_age(instance: dg.DagsterInstance, run_id: str) -> float:
    conn = instance.get_records_for_run(run_id, limit=1, ascending=False)
    if not conn.records:
        return float("inf")
    return time.time() - conn.records[0].event_log_entry.timestamp


def find_dead_runs(instance: dg.DagsterInstance, db: LookalikeDatabase) -> list[DeadRun]:
    host = socket.gethostname()
    silent_for = db.lock_wait_seconds + 2 * db.lease_ttl_seconds  # longer than any live run stays quiet
    out = []
    for rec in instance.get_run_records(filters=dg.RunsFilter(statuses=ACTIVE)):
        run, tags = rec.dagster_run, rec.dagster_run.tags
        tenant = tags.get(TENANT_TAG)
        if tags.get(HOST_TAG) == host and tags.get(PID_TAG, "").isdigit():
            pid = int(tags[PID_TAG])
            if pid != os.getpid() and not _alive(pid):
                out.append(DeadRun(run.run_id, tenant, f"its process {pid} on {host} is gone"))
            continue
        if tenant is None or tags.get(HOST_TAG):
            continue  # not a tenant run, or another machine's command line: run monitoring's max runtime
        with db.connect() as conn, tenant_transaction(conn, parse_tenant_id(tenant), PIPELINE_ROLE):
            holder = Q.locks.lease_holder(conn, tenant_id=parse_tenant_id(tenant))
            stale = Q.locks.lease_is_stale(conn, tenant_id=parse_tenant_id(tenant), ttl_seconds=db.lease_ttl_seconds)
        holds_live_lease = holder is not None and holder[0] == run.run_id and not stale
        age = _last_event_age(instance, run.run_id)
        if not holds_live_lease and age > silent_for:
            out.append(DeadRun(run.run_id, tenant, f"no live lease of its tenant and nothing logged for {age:.0f}s"))
    return out


def fail_dead_runs(instance: dg.DagsterInstance, db: LookalikeDatabase) -> list[DeadRun]:
    """Mark each dead run failed (saying why) and give its tenant lease back, so the tenant's next run starts at
    once instead of after the lease's time-to-live."""
    dead = find_dead_runs(instance, db)
    for d in dead:
        run = instance.get_run_by_id(d.run_id)
        if run is None or run.is_finished:
            continue
        instance.report_run_failed(run, f"lookalike: the run stopped without finishing ({d.reason}); marked failed")
        if d.tenant:
            tid = parse_tenant_id(d.tenant)
            with db.connect() as conn, tenant_transaction(conn, tid, PIPELINE_ROLE):
                Q.locks.release_tenant_lease(conn, tenant_id=tid, run_id=d.run_id, kind=None)
    return dead


@dg.sensor(minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Finds runs that stopped without finishing (a killed process, a lost code server), marks them "
           "failed with the reason and gives their tenant lease back, so that the tenant's queue moves on.")
def dead_runs_sensor(context: dg.SensorEvaluationContext, db: LookalikeDatabase) -> dg.SkipReason:
    dead = fail_dead_runs(context.instance, db)
    for d in dead:
        context.log.warning(f"run {d.run_id} (tenant {d.tenant or '-'}) marked failed: {d.reason}")
    return dg.SkipReason(f"{len(dead)} dead run(s) marked failed" if dead else "no dead runs")
