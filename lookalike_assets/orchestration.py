"""Running the asset graph from the command line: the Dagster instance, tenant partitions, and materializing
assets in-process (the runs show in the Dagster UI). Resources are built when a run starts, from the settings
in force then (LOOKALIKE_* variables), never from whatever was set when the code location was imported."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lookalike_assets.settings import get_settings

DAGSTER_YAML = """\
telemetry:
  enabled: false
# Runs stuck starting or cancelling are failed, runs past 6 hours are stopped; runs whose process died are found
# by lookalike's dead_runs_sensor (and `lookalike materialize`). See README: Sensors, schedules and concurrency.
run_monitoring:
  enabled: true
  start_timeout_seconds: 180
  cancel_timeout_seconds: 180
  max_runtime_seconds: 21600
  poll_interval_seconds: 60
  free_slots_after_run_end_seconds: 300
run_coordinator:
  module: dagster._core.run_coordinator
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: 2
    # one run per tenant at a time: by partition (runs launched from the UI, backfills) and by tenant tag
    tag_concurrency_limits:
      - key: dagster/partition
        value:
          applyLimitPerUniqueValue: true
        limit: 1
      - key: lookalike/tenant
        value:
          applyLimitPerUniqueValue: true
        limit: 1
"""


# What earlier versions wrote (without run monitoring): replaced by the current config when found unchanged.
_EARLIER_DAGSTER_YAML = """\
telemetry:
  enabled: false
run_coordinator:
  module: dagster._core.run_coordinator
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: 2
    tag_concurrency_limits:
      - key: lookalike/tenant
        value:
          applyLimitPerUniqueValue: true
        limit: 1
"""


def ensure_dagster_home() -> Path:
    """DAGSTER_HOME, by default <home>/dagster, with lookalike's instance config if it has none (or still has the
    one an earlier version wrote)."""
    home = Path(os.environ.get("DAGSTER_HOME") or get_settings().home / "dagster").resolve()
    home.mkdir(parents=True, exist_ok=True)
    cfg = home / "dagster.yaml"
    if not cfg.exists() or cfg.read_text() == _EARLIER_DAGSTER_YAML:
        cfg.write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def get_instance():
    import dagster as dg

    ensure_dagster_home()
    return dg.DagsterInstance.get()


def register_tenants(instance, slugs: list[str]) -> list[str]:
    """Add missing tenant partitions (keyed by slug); returns the ones added."""
    from lookalike_assets.defs.partitions import TENANTS_PARTITION

    known = set(instance.get_dynamic_partitions(TENANTS_PARTITION))
    new = [t for t in slugs if t not in known]
    if new:
        instance.add_dynamic_partitions(TENANTS_PARTITION, new)
    return new


@dataclass
class RunOutcome:
    what: str
    run_id: str
    success: bool
    seconds: float
    error: str | None = None


@dataclass
class StepEvent:
    """What a run is doing now, for progress displays: a step started or ended, or a step logged a line."""

    run_id: str
    step: str | None
    kind: str  # "start", "success", "failure", "log"
    message: str


def _root_cause(result) -> str | None:
    """The first failure's message with its underlying cause (not the last wrapper's)."""
    for e in result.all_events:
        if not e.is_failure:
            continue
        data = e.step_failure_data if e.is_step_failure else None
        err = getattr(data, "error", None)
        while err is not None and err.cause is not None:
            err = err.cause
        if err is not None:
            return f"{e.step_key or 'run'}: {err.message.strip()}"
        return e.message
    return None


def _failed_checks(result) -> str | None:
    """Blocking (ERROR severity) asset checks that failed in a run: work that did not all succeed although every
    step did (an export that could not be delivered). Warnings (e.g. an audience skipped with its reason) are not
    failures."""
    import dagster as dg

    failed = []
    for ev in result.get_asset_check_evaluations():
        if ev.passed or ev.severity != dg.AssetCheckSeverity.ERROR:
            continue
        detail = "; ".join(f"{k}: {getattr(v, 'value', v)}" for k, v in (ev.metadata or {}).items())
        failed.append(f"{ev.asset_key.to_user_string()}: check {ev.check_name} failed" + (f" ({detail})" if detail else ""))
    return "; ".join(failed) or None


def _outcome(result) -> tuple[bool, str | None]:
    """(success, error): the root cause of a failed step, else any failed blocking check."""
    if not result.success:
        return False, _root_cause(result)
    checks = _failed_checks(result)
    return checks is None, checks


def _execute(job_name: str, *, partition_key: str | None = None, tags: dict | None = None,
             on_event: Callable[[StepEvent], None] | None = None, log_level: str = "WARNING",
             stdout_to: Path | None = None) -> tuple:
    """Run a job in this process. ``stdout_to``: a file for what steps print (dbt's log), instead of the screen."""
    import contextlib

    import dagster as dg

    from lookalike_assets.definitions import defs
    from lookalike_assets.defs.runs import process_tags
    from lookalike_assets.resources import default_resources

    instance = get_instance()
    job = defs.resolve_job_def(job_name)
    run_id = str(uuid.uuid4())
    tags = {**(tags or {}), **process_tags()}  # the dead-run check knows this process
    if on_event is not None:
        def listen(entry) -> None:
            ev = entry.dagster_event
            if ev is not None:
                kind = {"STEP_START": "start", "STEP_SUCCESS": "success", "STEP_FAILURE": "failure"}.get(
                    ev.event_type_value)
                if kind:
                    on_event(StepEvent(run_id, ev.step_key, kind, ev.message or ""))
            elif entry.user_message:
                on_event(StepEvent(run_id, entry.step_key, "log", entry.user_message))

        instance.add_event_listener(run_id, listen)
    t = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if stdout_to is not None:
            stdout_to.parent.mkdir(parents=True, exist_ok=True)
            stack.enter_context(contextlib.redirect_stdout(stack.enter_context(stdout_to.open("w", encoding="utf-8"))))
        res = job.execute_in_process(
            partition_key=partition_key, instance=instance, raise_on_error=False, tags=tags, run_id=run_id,
            resources={**default_resources(), "dbt": _dbt()},
            run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        )
    return res, time.perf_counter() - t, dg


def _dbt():
    from lookalike_assets.defs.analytics.dbt import dbt_resource

    return dbt_resource()


def tenant_directory() -> dict[str, str]:
    """tenant id -> slug (admin)."""
    from lookalike_assets.db.connect import admin_connection
    from lookalike_assets.db.queries import Q

    with admin_connection() as conn:
        return {r[0]: r[1] for r in Q.tenants.list_tenants(conn)}


def materialize_tenants(
    tenant_ids: list[str], on_done: Callable[[RunOutcome], None] | None = None, log_level: str = "WARNING",
    job_name: str = "tenant_refresh", on_event: Callable[[StepEvent], None] | None = None,
) -> list[RunOutcome]:
    """Every asset of ``job_name`` for each tenant partition, one run per tenant, in this process. Runs of earlier
    processes that died are marked failed first (and their tenant leases given back)."""
    from lookalike_assets.defs.jobs import tenant_tags
    from lookalike_assets.defs.runs import fail_dead_runs
    from lookalike_assets.resources import default_resources

    instance = get_instance()
    for d in fail_dead_runs(instance, default_resources()["db"]):
        if on_event:
            on_event(StepEvent(d.run_id, None, "log", f"an earlier run {d.run_id[:8]} stopped without finishing "
                                                     f"({d.reason}): marked failed"))
    slugs = tenant_directory()
    missing = [t for t in tenant_ids if t not in slugs]
    if missing:
        raise ValueError(f"no tenant {', '.join(missing)}")
    register_tenants(instance, [slugs[t] for t in tenant_ids])
    out = []
    for tid in tenant_ids:
        res, seconds, _ = _execute(job_name, partition_key=slugs[tid], on_event=on_event, log_level=log_level,
                                   tags={**tenant_tags(tid, slugs[tid]), "lookalike/trigger": "cli"})
        ok, error = _outcome(res)
        o = RunOutcome(slugs[tid], res.run_id, ok, seconds, error)
        out.append(o)
        if on_done:
            on_done(o)
    return out


@dataclass
class MartsOutcome(RunOutcome):
    log: Path | None = None
    dbt_summary: str | None = None  # dbt's own count: "PASS=58 WARN=0 ERROR=0 SKIP=0 ..."


def materialize_marts(log_level: str = "WARNING") -> MartsOutcome:
    """dbt build (staging, intermediate, marts) and the reports, as one Dagster run; dbt's log goes to a file
    under <LOOKALIKE_HOME>/logs, and its count of passed and failed nodes comes back as one line."""
    import re

    log = get_settings().home / "logs" / f"dbt-{time.strftime('%Y%m%dT%H%M%S')}.log"
    res, seconds, _ = _execute("marts_refresh", log_level=log_level, tags={"lookalike/trigger": "cli"}, stdout_to=log)
    done = re.findall(r"Done\. (PASS=\d+ WARN=\d+ ERROR=\d+ SKIP=\d+.*?TOTAL=\d+)", log.read_text(errors="replace"))
    ok, error = _outcome(res)
    return MartsOutcome("marts", res.run_id, ok, seconds, error, log=log, dbt_summary=done[-1] if done else None)


def materialize_conversion_facts(days, log_level: str = "WARNING") -> RunOutcome:
    """The conversion facts of a range of days, in one run (single-run backfill policy)."""
    days = sorted(days)
    res, seconds, _ = _execute("conversion_facts_job", log_level=log_level, tags={
        "dagster/asset_partition_range_start": days[0].isoformat(),
        "dagster/asset_partition_range_end": days[-1].isoformat(), "lookalike/trigger": "cli"})
    ok, error = _outcome(res)
    return RunOutcome(f"{days[0]}..{days[-1]}", res.run_id, ok, seconds, error)


def forget_tenant(slug: str) -> bool:
    """Remove a deleted tenant's partition from this Dagster instance (the change sensor does the same in a
    deployment). Returns True when there was one."""
    from lookalike_assets.defs.jobs import cancel_runs_of_deleted_tenant
    from lookalike_assets.defs.partitions import TENANTS_PARTITION

    instance = get_instance()
    cancel_runs_of_deleted_tenant(instance, slug)
    if slug not in set(instance.get_dynamic_partitions(TENANTS_PARTITION)):
        return False
    instance.delete_dynamic_partition(TENANTS_PARTITION, slug)
    return True
