"""The REST API: tenant-scoped paths, credentials bound to one tenant, JSON errors with a stable ``code``.

Every request under ``/v1/tenants/{tenant_id}`` resolves its API key to a tenant (a definer function; the key's
hash only), refuses a path of another tenant (403), and works as the ``lookalike_api`` service login inside that
tenant's transactions. Keys never reach a log, and errors never echo the Authorization header.
"""

from __future__ import annotations

import importlib
import logging
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute
from psycopg_pool import PoolTimeout

from lookalike_assets.api.deps import Services, tenant
from lookalike_assets.api.docs import install_docs
from lookalike_assets.api.errors import ERRORS, install_error_handlers, known_query_parameters
from lookalike_assets.api.middleware import BodyLimit
from lookalike_assets.api.routes import audiences, columns, destinations, jobs, leads, seeds, service
from lookalike_assets.api.runs import run_steps
from lookalike_assets.db.connect import API_ROLE, database_url
from lookalike_assets.pipeline.describe import describe_audience, meaning_encoder

log = logging.getLogger("lookalike.api")

TENANT_PREFIX = "/v1/tenants/{tenant_id}"


def operation_id(route: APIRoute) -> str:
    """``<tag>-<function>``: stable, readable names for a generated client's methods."""
    return f"{route.tags[0]}-{route.name}" if route.tags else route.name


def create_app(conninfo: str | None = None, encoder=None, instance=None, *, pool_timeout: float = 10.0,
               startup_wait: float = 30.0) -> FastAPI:
    """The application against the database at ``conninfo`` (the owner's URL; the service logs in as
    lookalike_api), with a text encoder and a Dagster instance made on first use unless given."""
    svc = Services(conninfo or database_url(), encoder=encoder, instance=instance, pool_timeout=pool_timeout)

    @asynccontextmanager
    async def lifespan(_app):
        svc.pool.open()
        # before the first request, not during it: the encoder loaded and run once, the scoring modules imported
        # (LightGBM, pandas: over a second), the pool's connections opened
        svc.encoder().encode(["warm-up"])
        if (words := meaning_encoder(svc.encoder())) is not None:  # the description reader's fp32 reference model
            words.encode(["warm-up"])
        importlib.import_module("lookalike_assets.pipeline.ranking")
        try:
            svc.pool.wait(timeout=startup_wait)
        except PoolTimeout:  # the service starts anyway: /health says the database is down, requests get 503
            log.warning("the database cannot be reached: requests answer 503 until it can")
        yield
        svc.pool.close()

    app = FastAPI(title="lookalike", version="1", lifespan=lifespan, responses=ERRORS,
                  dependencies=[Depends(known_query_parameters)], docs_url=None, redoc_url=None,
                  generate_unique_id_function=operation_id,
                  description="Tenant-scoped lookalike audiences: seeds, audiences, similar leads, scoring.")
    app.state.services = svc
    install_error_handlers(app)

    app.include_router(service.router)
    tenant_scoped = APIRouter(prefix=TENANT_PREFIX, dependencies=[Depends(tenant)])
    for area in (seeds, audiences, jobs, leads, destinations, columns):
        tenant_scoped.include_router(area.router)
    app.include_router(tenant_scoped)

    install_studio(app, svc)
    install_docs(app)
    return app


def install_studio(app: FastAPI, svc: Services) -> None:
    """The web app for growth teams, on the same pool and logins, with the API's text encoder and catalogs."""
    from lookalike_assets.settings import get_settings
    from lookalike_assets.studio.web import UPLOAD_BYTES
    from lookalike_assets.studio.web import install as install_web

    def describe(conn, tid, text):
        return describe_audience(conn, tid, text, meaning_encoder(svc.encoder()), cache=svc.catalog_vectors,
                                 role=API_ROLE, catalogs=svc.catalogs)

    def progress(slug: str, since: datetime) -> dict | None:
        return run_steps(svc.dagster(), {"dagster/partition": slug}, since)

    install_web(app, svc.connection, get_settings().secret_value(), describe=describe, progress=progress)
    app.add_middleware(BodyLimit, paths={"/studio/leads/upload": UPLOAD_BYTES + 64 * 1024})
