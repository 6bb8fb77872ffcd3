"""Keeping tenant partitions fresh: a sensor on the change log, and a nightly schedule."""

import dagster as dg

from lookalike_assets.db.connect import CHANGES_ROLE, role_transaction
from lookalike_assets.db.queries import Q
from lookalike_assets.defs.jobs import TENANT_TAG, cancel_runs_of_deleted_tenant, tenant_refresh_job, tenant_tags
from lookalike_assets.defs.partitions import TENANTS_PARTITION, tenant_partitions
from lookalike_assets.defs.resources import LookalikeDatabase
from lookalike_assets.pipeline.changes import REFRESH_ENTITIES, read_changes

WAITING = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED]


def tenant_slugs(conn) -> dict[str, str]:
    """tenant id -> slug (the partition key) of every tenant."""
    with role_transaction(conn, CHANGES_ROLE):
        return {t: slug for t, slug, _name in Q.changes.tenant_directory(conn)}


def waiting_tenants(instance: dg.DagsterInstance, job_name: str, slugs: dict[str, str]) -> set[str]:
    """Tenants (ids) with a run of ``job_name`` that has not started yet: that run will see today's changes. Runs
    launched from the UI or a backfill carry only their partition key (the slug)."""
    ids = {slug: t for t, slug in slugs.items()}
    runs = instance.get_runs(filters=dg.RunsFilter(job_name=job_name, statuses=WAITING))
    return {r.tags.get(TENANT_TAG) or ids.get(r.tags.get("dagster/partition", ""), "") for r in runs} - {""}


def tenant_request(tenant_id: str, slug: str, run_key: str, **tags: str) -> dg.RunRequest:
    """A run of one tenant's partition (keyed by its slug), tagged with its id and slug."""
    return dg.RunRequest(partition_key=slug, run_key=run_key, tags={**tenant_tags(tenant_id, slug), **tags})


def schedule_requests(context: dg.ScheduleEvaluationContext, db: LookalikeDatabase, key: str, trigger: str):
    """One run request per tenant partition, with a run key per period."""
    partitions = set(context.instance.get_dynamic_partitions(TENANTS_PARTITION))
    if not partitions:
        return dg.SkipReason("no tenant partitions yet")
    with db.connect(CHANGES_ROLE) as conn:
        slugs = tenant_slugs(conn)
    gone = partitions - set(slugs.values())
    if gone:
        context.log.warning(f"{len(gone)} partition(s) of deleted tenants are left out (the change sensor removes "
                            "them)")
    return [tenant_request(t, slug, f"{key}:{slug}", **{"lookalike/trigger": trigger})
            for t, slug in sorted(slugs.items(), key=lambda kv: kv[1]) if slug in partitions]


@dg.sensor(
    job=tenant_refresh_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Reads the change log (as lookalike_changes) from its cursor: adds a partition for each new "
    "tenant, keyed by its slug (removes deleted ones) and requests one refresh run per tenant whose leads, seeds, audiences or "
    "suppression list changed. Ignores the pipeline's own writes and changes a finished run already covered.",
)
def tenant_changes_sensor(context: dg.SensorEvaluationContext, db: LookalikeDatabase) -> dg.SensorResult:
    with db.connect(CHANGES_ROLE) as conn:
        batch = read_changes(conn, context.cursor)
        slugs = tenant_slugs(conn)
    known = set(context.instance.get_dynamic_partitions(TENANTS_PARTITION))
    current = set(slugs.values())
    new = sorted(slug for slug in current if slug not in known)
    gone = sorted(k for k in known if k not in current)  # deleted tenants (and keys from before slugs)
    waiting = waiting_tenants(context.instance, tenant_refresh_job.name, slugs)
    touched = [t for t in batch.tenants_with(REFRESH_ENTITIES) if t not in batch.deleted and t in slugs]
    requests = [
        tenant_request(t, slugs[t], f"changes:{slugs[t]}:{batch.last_xid[t]}",
                       **{"lookalike/trigger": "changes", "lookalike/changed": ",".join(sorted(batch.by_tenant[t]))})
        for t in touched if t not in waiting
    ]
    if requests:
        context.log.info(f"{len(requests)} tenant(s) changed: {', '.join(r.partition_key for r in requests)}")
    partition_requests = []
    if new:
        partition_requests.append(tenant_partitions.build_add_request(new))
    if gone:
        partition_requests.append(tenant_partitions.build_delete_request(gone))
        for slug in gone:  # their queued runs would only fail (and alert)
            cancelled = cancel_runs_of_deleted_tenant(context.instance, slug)
            if cancelled:
                context.log.info(f"tenant {slug} was deleted: {len(cancelled)} queued run(s) cancelled")
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
