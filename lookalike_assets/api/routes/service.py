"""The service's own state: liveness of the database and its migrations, readiness."""

from __future__ import annotations

import psycopg
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout

from lookalike_assets.api.deps import ServicesDep
from lookalike_assets.api.schemas import Health, Ready

router = APIRouter(tags=["service"])


@router.get("/health", response_model=Health, responses={503: {"model": Health, "description": "The database is "
                                                              "down or its migrations are not current."}})
def health(svc: ServicesDep) -> JSONResponse:
    """The database is reachable and its migrations are current."""
    from lookalike_assets.db.migrate import current_revision, head_revision

    try:
        with svc.connection() as conn:
            conn.execute("select 1")
        current, head = current_revision(svc.owner_url), head_revision()
    except (psycopg.Error, PoolTimeout):
        return JSONResponse({"status": "down", "code": "database_unreachable",
                             "message": "the database cannot be reached"}, 503)
    ok = current == head
    return JSONResponse({"status": "ok" if ok else "migrations_pending", "revision": current, "head": head},
                        200 if ok else 503)


@router.get("/ready")
def ready(svc: ServicesDep) -> Ready:
    with svc.connection() as conn:
        conn.execute("select 1")
    return Ready(status="ready")
