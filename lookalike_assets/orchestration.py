"""Running the asset graph from the command line: the Dagster instance, tenant partitions, and
materializing every asset of each tenant in-process (the runs show in the Dagster UI)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lookalike_assets.settings import get_settings

DAGSTER_YAML = """\
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
    """DAGSTER_HOME, by default <home>/dagster, with an instance config if it has none."""
    home = Path(os.environ.get("DAGSTER_HOME") or get_settings().home / "dagster").resolve()
    home.mkdir(parents=True, exist_ok=True)
    cfg = home / "dagster.yaml"
    if not cfg.exists():
        cfg.write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def get_instance():
    import dagster as dg

    ensure_dagster_home()
    return dg.DagsterInstance.get()


def register_tenants(instance, tenant_ids: list[str]) -> list[str]:
    """Add missing tenant partitions; returns the ones added."""
    from lookalike_assets.defs.partitions import TENANTS_PARTITION

    known = set(instance.get_dynamic_partitions(TENANTS_PARTITION))
    new = [t for t in tenant_ids if t not in known]
    if new:
        instance.add_dynamic_partitions(TENANTS_PARTITION, new)
    return new


@dataclass
class RunOutcome:
    tenant_id: str
    run_id: str
    success: bool
    seconds: float
    error: str | None = None


def materialize_tenants(
    tenant_ids: list[str], on_done: Callable[[RunOutcome], None] | None = None, log_level: str = "INFO"
) -> list[RunOutcome]:
    import time

    from lookalike_assets.definitions import defs

    instance = get_instance()
    register_tenants(instance, tenant_ids)
    job = defs.resolve_job_def("tenant_refresh")
    out = []
    for tid in tenant_ids:
        t = time.perf_counter()
        res = job.execute_in_process(
            partition_key=tid, instance=instance, raise_on_error=False, tags={"lookalike/tenant": tid},
            run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        )
        err = None
        if not res.success:
            failures = [e for e in res.all_events if e.is_failure]
            err = failures[0].message if failures else "run failed"
        o = RunOutcome(tid, res.run_id, res.success, time.perf_counter() - t, err)
        out.append(o)
        if on_done:
            on_done(o)
    return out


def materialize_marts(log_level: str = "WARNING") -> RunOutcome:
    """dbt build (staging, intermediate, marts) as one Dagster run."""
    import time

    from lookalike_assets.definitions import defs

    instance = get_instance()
    t = time.perf_counter()
    res = defs.resolve_job_def("marts_refresh").execute_in_process(
        instance=instance, raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
    )
    failures = [e for e in res.all_events if e.is_failure]
    return RunOutcome("(all)", res.run_id, res.success, time.perf_counter() - t,
                      failures[0].message if failures else None)


def materialize_conversion_facts(days, log_level: str = "WARNING") -> RunOutcome:
    """The conversion facts of a range of days, in one run (single-run backfill policy)."""
    import time

    from lookalike_assets.definitions import defs

    days = sorted(days)
    instance = get_instance()
    t = time.perf_counter()
    res = defs.resolve_job_def("conversion_facts_job").execute_in_process(
        instance=instance, raise_on_error=False,
        tags={"dagster/asset_partition_range_start": days[0].isoformat(),
              "dagster/asset_partition_range_end": days[-1].isoformat()},
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
    )
    failures = [e for e in res.all_events if e.is_failure]
    return RunOutcome(f"{days[0]}..{days[-1]}", res.run_id, res.success, time.perf_counter() - t,
                      failures[0].message if failures else None)
