import dagster as dg

TENANT_GROUPS = ("leads", "audiences")
# Runs carry their tenant in this tag; the run queue allows one run per tag value (dagster.yaml), and the
# assets also hold a per-tenant advisory lock in PostgreSQL.
TENANT_TAG = "lookalike/tenant"
TENANT_SLUG_TAG = "lookalike/tenant_slug"


NOT_STARTED = (dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED)


def cancel_runs_of_deleted_tenant(instance: dg.DagsterInstance, slug: str) -> list[str]:
    """Runs of a deleted tenant's partition that have not started are cancelled (they would only fail, and alert);
    returns their ids. A run already going ends on its own (its tenant's rows are gone)."""
    runs = instance.get_runs(filters=dg.RunsFilter(statuses=list(NOT_STARTED), tags={"dagster/partition": slug}))
    runs += instance.get_runs(filters=dg.RunsFilter(statuses=list(NOT_STARTED), tags={TENANT_SLUG_TAG: slug}))
    out = []
    for r in {r.run_id: r for r in runs}.values():
        instance.report_run_canceled(r, message=f"tenant {slug} was deleted before this run started")
        out.append(r.run_id)
    return out


def tenant_tags(tenant_id: str, slug: str | None) -> dict[str, str]:
    """Run tags naming the tenant: its id (the run queue's concurrency key) and its slug (for people)."""
    return {TENANT_TAG: tenant_id, **({TENANT_SLUG_TAG: slug} if slug else {})}


tenant_refresh_job = dg.define_asset_job(
    "tenant_refresh",
    selection=dg.AssetSelection.groups(*TENANT_GROUPS),
    # The tenant assets are a chain: one process runs the steps one after the other (no process start-up per step;
    # tenants run in parallel as separate runs).
    executor_def=dg.in_process_executor,
    description="Refresh one tenant: features, embeddings, seed profiles, ranking, candidate pools, memberships "
    "and exports.",
)

marts_refresh_job = dg.define_asset_job(
    "marts_refresh",
    selection=dg.AssetSelection.groups("dbt_staging", "dbt_intermediate", "dbt_marts", "reports"),
    description="dbt build (staging views, intermediate joins, the marts BI tools read), then the reports.",
)

marts_schedule = dg.ScheduleDefinition(
    name="hourly_marts_refresh",
    job=marts_refresh_job,
    cron_schedule="15 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Hourly: rebuild the marts and the per-tenant reports.",
)
