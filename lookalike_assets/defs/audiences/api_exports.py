"""Exports the API asks for (POST .../audience/{id}/export): a sensor that starts one run per export job, and the
job that runs it with the same export code as the audience_exports asset, under the tenant's lease."""

import uuid

import dagster as dg

from lookalike_assets.db import locks
from lookalike_assets.db.connect import CHANGES_ROLE, PIPELINE_ROLE, role_transaction, tenant_transaction
from lookalike_assets.db.queries import Q
from lookalike_assets.defs.audiences.resources import ExportDestinationResource
from lookalike_assets.defs.jobs import tenant_tags
from lookalike_assets.defs.resources import LookalikeDatabase
from lookalike_assets.defs.tenants.sensors import tenant_slugs
from lookalike_assets.pipeline.exports import run_exports

API_JOB_TAG = "lookalike/api_job"


class ApiExportConfig(dg.Config):
    tenant_id: str
    job_id: str


@dg.op(description="Export one published audience to one platform, as an API export job asked.")
def api_export(context: dg.OpExecutionContext, config: ApiExportConfig, db: LookalikeDatabase,
               exports: ExportDestinationResource) -> dg.Output[int]:
    tid, job_id = uuid.UUID(config.tenant_id), uuid.UUID(config.job_id)
    with db.connect() as conn:
        with tenant_transaction(conn, tid, PIPELINE_ROLE):
            job = Q.exports.api_export_job(conn, tenant_id=tid, job_id=job_id)
        if job is None:
            raise dg.Failure(f"no export job {job_id} for tenant {tid}")
        # the tenant's lease, kept alive by its heartbeat, as every tenant step holds it (one step: the last)
        with locks.tenant_step(conn, db.conninfo(), tid, context.run.run_id, last=True,
                               wait_seconds=db.lock_wait_seconds, ttl_seconds=db.lease_ttl_seconds):
            results = run_exports(conn, tid, exports.get(), run_id=context.run.run_id, attempts=exports.attempts,
                                  backoff_seconds=exports.backoff_seconds, min_sizes=exports.min_sizes,
                                  audience=job.audience_id, platforms=[job.platform])
    if not results:
        raise dg.Failure(f"audience {job.audience_id} is not published (any more): nothing to export")
    for r in results:
        context.log.info(f"{r.audience} -> {r.format}: {r.status}, {r.rows} rows, {r.attempts} attempt(s)"
                         + (f" ({r.error})" if r.error else ""))
    failed = [r for r in results if r.status == "failed"]
    if failed:
        raise dg.Failure(f"export to {job.platform} failed: {failed[0].error}")
    rows = sum(r.rows for r in results)
    return dg.Output(rows, metadata={"platform": job.platform, "rows": rows,
                                     "status": ", ".join(sorted({r.status for r in results}))})


@dg.job(description="One export an application asked for through the API (its job id is the run's "
        f"{API_JOB_TAG} tag).", tags={"lookalike/trigger": "api"})
def api_export_job():
    api_export()


@dg.sensor(job=api_export_job, minimum_interval_seconds=15, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Starts one run per export job the API was asked for (keyed by the job id, so once).")
def api_exports_sensor(context: dg.SensorEvaluationContext, db: LookalikeDatabase):
    with db.connect(CHANGES_ROLE) as conn:
        with role_transaction(conn, CHANGES_ROLE):
            jobs = list(Q.exports.pending_api_exports(conn))
        slugs = tenant_slugs(conn)
    requests = [
        dg.RunRequest(run_key=f"api-export:{j.job_id}",
                      run_config={"ops": {"api_export": {"config": {"tenant_id": str(j.tenant_id),
                                                                    "job_id": str(j.job_id)}}}},
                      tags={**tenant_tags(str(j.tenant_id), slugs.get(str(j.tenant_id))), API_JOB_TAG: str(j.job_id)})
        for j in jobs if str(j.tenant_id) in slugs
    ]
    return requests or dg.SkipReason("no export jobs from the API")
