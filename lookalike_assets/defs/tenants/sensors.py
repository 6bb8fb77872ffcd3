"""Keeping tenant partitions fresh: a sensor on the change log, and a nightly schedule."""

import dagster as dg

from lookalike_assets.db.connect import CHANGES_ROLE, role_transaction
from lookalike_assets.db.queries import Q
from lookalike_assets.defs.jobs import TENANT_TAG, tenant_refresh_job, tenant_tags
from lookalike_assets.defs.partitions import TENANTS_PARTITION, tenant_partitions
from lookalike_assets.defs.resources import LookalikeDatabase
from lookalike_assets.pipeline.changes import REFRESH_ENTITIES, read_changes

WAITING = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED]


def waiting_partitions(instance: dg.DagsterInstance, job_name: str) -> set[str]:
    """Partitions with a run of ``job_name`` that has not started yet: that run will see today's changes."""
    runs = instance.get_runs(filters=dg.RunsFilter(job_name=job_name, statuses=WAITING))
    return {r.tags.get("dagster/partition") or r.tags.get(TENANT_TAG) for r in runs}


def tenant_slugs(conn) -> dict[str, str]:
    with role_transaction(conn, CHANGES_ROLE):
        return {t: slug for t, slug, _name in Q.tenant_directory(conn)}


def schedule_requests(context: dg.ScheduleEvaluationContext, db: LookalikeDatabase, key: str, trigger: str):
    """One run request per tenant partition, named by slug, with a run key per period."""
    tenants = context.instance.get_dynamic_partitions(TENANTS_PARTITION)
    if not tenants:
        return dg.SkipReason("no tenant partitions yet")
    with db.connect(CHANGES_ROLE) as conn:
        slugs = tenant_slugs(conn)
    gone = [t for t in tenants if t not in slugs]
    if gone:
        context.log.warning(f"{len(gone)} partition(s) of deleted tenants are left out (the change sensor removes "
                            "them)")
    return [dg.RunRequest(partition_key=t, run_key=f"{key}:{t}",
                          tags={**tenant_tags(t, slugs[t]), "lookalike/trigger": trigger})
            for t in tenants if t in slugs]


@dg.sensor(
    job=tenant_refresh_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Reads the change log (as lookalike_changes) from its cursor: adds a partition for each new "
    "tenant (removes deleted ones) and requests one refresh run per tenant whose leads, seeds, audiences or "
    "suppression list changed. Ignores the pipeline's own writes and changes a finished run already covered.",
)
def tenant_changes_sensor(context: dg.SensorEvaluationContext, db: LookalikeDatabase) -> dg.SensorResult:
    with db.connect(CHANGES_ROLE) as conn:
        batch = read_changes(conn, context.cursor)
        slugs = tenant_slugs(conn) if batch.by_tenant else {}
    known = set(context.instance.get_dynamic_partitions(TENANTS_PARTITION))
    new = [t for t in batch.seen if t not in known and t not in batch.deleted]
    gone = [t for t in batch.deleted if t in known]
    waiting = waiting_partitions(context.instance, tenant_refresh_job.name)
    touched = [t for t in batch.tenants_with(REFRESH_ENTITIES) if t not in batch.deleted and t in slugs]
    requests = [
        dg.RunRequest(
            partition_key=t,
            run_key=f"changes:{t}:{batch.last_xid[t]}",
            tags={**tenant_tags(t, slugs[t]), "lookalike/trigger": "changes",
                  "lookalike/changed": ",".join(sorted(batch.by_tenant[t]))},
        )
        for t in touched if t not in waiting
    ]
    if requests:
        context.log.info(f"{len(requests)} tenant(s) changed: {', '.join(slugs[r.partition_key] for r in requests)}")
    partition_requests = []
    if new:
        partition_requests.append(tenant_partitions.build_add_request(new))
    if gone:
        partition_requests.append(tenant_partitions.build_delete_request(gone))
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=partition_requests,
        cursor=batch.horizon,
        skip_reason=None if requests or new or gone else "no changes that a refresh has not covered",
    )


@dg.schedule(
    cron_schedule="0 2 * * *",
    job=tenant_refresh_job,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Nightly: refresh every tenant partition (changed leads' embeddings, pools, memberships, exports).",
)
def nightly_tenant_refresh(context: dg.ScheduleEvaluationContext, db: LookalikeDatabase):
    day = context.scheduled_execution_time.strftime("%Y-%m-%d")
    return schedule_requests(context, db, f"nightly:{day}", "nightly")
