"""The jobs that follow an audience's build or an export through the tenant's Dagster runs."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from lookalike_assets.api.deps import Conn, ServicesDep, Tenant
from lookalike_assets.api.errors import ApiError
from lookalike_assets.api.runs import dagster_status, run_failure
from lookalike_assets.api.schemas import JobOut
from lookalike_assets.db.connect import API_ROLE, tenant_transaction
from lookalike_assets.db.queries import Q

router = APIRouter(prefix="/lookalike/jobs", tags=["jobs"])


@router.get("/{job_id}")
def get_job(tid: Tenant, conn: Conn, svc: ServicesDep, job_id: uuid.UUID) -> JobOut:
    """Where a job is: pending until its run starts, then running, completed or failed (with where to look)."""
    with tenant_transaction(conn, tid, API_ROLE):
        job = Q.online.get_job(conn, tenant_id=tid, job_id=str(job_id))
        if job is None:
            raise ApiError(404, "not_found", f"no job {job_id}")
        members = Q.online.member_count(conn, tenant_id=tid, audience_id=job.audience_id)
    if job.kind == "export":
        from lookalike_assets.defs.audiences.api_exports import API_JOB_TAG

        status, run = dagster_status(svc.dagster(), {API_JOB_TAG: str(job.job_id)}, job.created_at)
        with tenant_transaction(conn, tid, API_ROLE):
            done = list(Q.exports.export_results(conn, tenant_id=tid, run_id=run.run_id)) if run else []
        return JobOut(job_id=str(job.job_id), kind="export", status=status, run_id=run and run.run_id,
                      audience_id=str(job.audience_id), members=members, platform=job.platform,
                      exported_rows=sum(r.row_count or 0 for r in done) if done else None,
                      export_status=done[0].status if done else None,
                      detail=(done[0].error if done else None) or run_failure(run))
    status, run = dagster_status(svc.dagster(), {"dagster/partition": job.slug}, job.created_at)
    return JobOut(job_id=str(job.job_id), kind=job.kind, status=status, run_id=run and run.run_id,
                  audience_id=str(job.audience_id) if job.audience_id else None, members=members,
                  detail=run_failure(run))
