"""Keeping tenant partitions fresh: a sensor on the change log, and a nightly schedule."""

import dagster as dg

from lookalike_assets.defs.jobs import TENANT_TAG, tenant_refresh_job
from lookalike_assets.defs.partitions import TENANTS_PARTITION, tenant_partitions
from lookalike_assets.defs.resources import LookalikeDatabase
from lookalike_assets.pipeline.changes import REFRESH_ENTITIES, read_changes


@dg.sensor(
    job=tenant_refresh_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Reads the change log (as lookalike_changes) from its cursor: adds a partition for each new "
    "tenant and requests one refresh run per tenant whose leads, seeds, audiences or suppression list changed.",
)
def tenant_changes_sensor(context: dg.SensorEvaluationContext, db: LookalikeDatabase) -> dg.SensorResult:
    with db.connect() as conn:
        batch = read_changes(conn, context.cursor)
    touched = batch.tenants_with(REFRESH_ENTITIES)
    known = set(context.instance.get_dynamic_partitions(TENANTS_PARTITION))
    new = [t for t in batch.tenants if t not in known]
    requests = [
        dg.RunRequest(
            partition_key=t,
            run_key=f"changes:{t}:{batch.horizon}",
            tags={TENANT_TAG: t, "lookalike/trigger": "changes",
                  "lookalike/changed": ",".join(sorted(batch.by_tenant[t]))},
        )
        for t in touched
    ]
    if requests:
        context.log.info(f"{len(requests)} tenant(s) changed: {', '.join(touched)}")
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[tenant_partitions.build_add_request(new)] if new else [],
        cursor=batch.horizon,
        skip_reason=None if requests or new else "no changes",
    )


@dg.schedule(
    cron_schedule="0 2 * * *",
    job=tenant_refresh_job,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Nightly: refresh every tenant partition (changed leads' embeddings, pools, memberships, exports).",
)
def nightly_tenant_refresh(context: dg.ScheduleEvaluationContext):
    day = context.scheduled_execution_time.strftime("%Y-%m-%d")
    tenants = context.instance.get_dynamic_partitions(TENANTS_PARTITION)
    if not tenants:
        return dg.SkipReason("no tenant partitions yet")
    return [
        dg.RunRequest(partition_key=t, run_key=f"nightly:{day}:{t}", tags={TENANT_TAG: t, "lookalike/trigger": "nightly"})
        for t in tenants
    ]
