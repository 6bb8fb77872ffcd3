"""The REST API: tenant-scoped paths, API keys bound to one tenant, JSON errors with a stable ``code``.

Every request resolves its key to a tenant (a definer function; the key's hash only), refuses a path of another
tenant (403), and works as the ``lookalike_api`` service login inside that tenant's transaction. Keys never
reach a log: the access log is off, and errors never echo the Authorization header.
"""


import base64
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import psycopg
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import ConnectionPool
from pydantic import BaseModel, ConfigDict, Field

from lookalike_assets.db.connect import API_ROLE, database_url, service_url, tenant_transaction
from lookalike_assets.db.queries import Q
from lookalike_assets.domain.apikeys import hash_key, looks_like_key
from lookalike_assets.pipeline import admin as admin_ops
from lookalike_assets.pipeline.admin import AdminError
from lookalike_assets.pipeline.online import OnlineError, score_lead, similar_leads


class ApiError(HTTPException):
    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(status, message)
        self.code, self.field = code, field


def _error(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if field:
        body["field"] = field
    return JSONResponse(body, status_code=status)


# ---- request and response bodies -------------------------------------------------------------------------------
class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SeedIn(Strict):
    lead_ids: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(min_length=1, max_length=10_000,
                                                                                 description="lead ids or external ids")
    label: Literal["won", "meeting", "replied", "scored", "manual"] = "manual"
    weight: float | None = Field(default=None, gt=0, le=100)


class SeedOut(BaseModel):
    seed_ids: list[str]
    not_found: list[str]
    already: list[str]


class AudienceIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    seed_ids: list[str] | None = Field(default=None, max_length=10_000)
    seed_set: dict | None = None
    rules: dict | None = None
    description: str | None = Field(default=None, max_length=2000)


class AudienceCreated(BaseModel):
    audience_id: str
    size_estimate: int | None
    job_id: str


class JobOut(BaseModel):
    job_id: str
    kind: str
    status: Literal["pending", "running", "completed", "failed"]
    run_id: str | None = None
    audience_id: str | None = None
    members: int | None = None


class FeedbackIn(Strict):
    candidate_id: uuid.UUID
    event_type: str = Field(min_length=1, max_length=50)
    value: float | None = None
    metadata: dict | None = None
    event_id: str = Field(min_length=1, max_length=200)
    occurred_at: datetime | None = None


class LeadsIn(Strict):
    leads: list[dict] = Field(min_length=1, max_length=5_000)


class ScoreIn(Strict):
    attributes: dict = Field(description="the lead's fields (title, industry, ..., imported attributes), "
                                         "optionally external_id and email for the duplicate check")


class Page(BaseModel):
    items: list[dict]
    next_cursor: str | None


def _cursor(obj: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj, default=str).encode()).decode()


def _uncursor(cursor: str | None) -> Any:
    if not cursor:
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError):
        raise ApiError(400, "invalid_cursor", "the cursor is not one this API returned", "cursor") from None


# ---- the application -------------------------------------------------------------------------------------------
def create_app(conninfo: str | None = None, encoder=None) -> FastAPI:
    owner_url = conninfo or database_url()
    pool = ConnectionPool(service_url(API_ROLE, owner_url), min_size=1, max_size=8, open=False,
                          kwargs={"autocommit": True}, configure=_configure)
    state: dict[str, Any] = {"encoder": encoder}

    def get_encoder():
        if state["encoder"] is None:
            from lookalike_assets.domain.encoders import get_encoder as make
            from lookalike_assets.settings import get_settings

            state["encoder"] = make(get_settings().encoder)
        return state["encoder"]

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(_app):
        pool.open()
        yield
        pool.close()

    app = FastAPI(title="lookalike", version="1", lifespan=lifespan,
                  description="Tenant-scoped lookalike audiences: seeds, audiences, similar leads, scoring.")

    @contextmanager
    def connection() -> Iterator[psycopg.Connection]:
        if pool.closed:
            pool.open()
        with pool.connection() as conn:
            yield conn

    @app.exception_handler(ApiError)
    async def _api_error(_req, exc: ApiError):
        return _error(exc.status_code, exc.code, exc.detail, exc.field)

    @app.exception_handler(HTTPException)
    async def _http_error(_req, exc: HTTPException):
        return _error(exc.status_code, {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error"),
                      str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_req, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(x) for x in first.get("loc", ()) if x not in ("body", "query", "path")]
        return _error(422, "invalid_request", f"{'.'.join(loc) or 'request'}: {first.get('msg', 'invalid')}",
                      ".".join(loc) or None)

    def tenant(request: Request, tenant_id: Annotated[str, PathParam(max_length=100)]) -> uuid.UUID:
        auth = request.headers.get("authorization", "")
        key = auth[7:].strip() if auth.lower().startswith("bearer ") else request.headers.get("x-api-key")
        if not key:
            raise ApiError(401, "unauthenticated", "an API key is required (Authorization: Bearer <key>)")
        if not looks_like_key(key):
            raise ApiError(401, "invalid_key", "the API key is not valid")
        with connection() as conn:
            owner = conn.execute("select lookalike_api_key_tenant(%s)", (hash_key(key),)).fetchone()[0]
        if owner is None:
            raise ApiError(401, "invalid_key", "the API key is not valid or was revoked")
        try:
            wanted = uuid.UUID(tenant_id)
        except ValueError:
            raise ApiError(403, "forbidden", "this key is not for that tenant") from None
        if wanted != owner:
            raise ApiError(403, "forbidden", "this key is not for that tenant")
        return owner

    Tenant = Annotated[uuid.UUID, Depends(tenant)]

    def audience_row(conn, tid: uuid.UUID, audience_id: str):
        try:
            return admin_ops.find_audience(conn, tid, audience_id)
        except AdminError:
            raise ApiError(404, "not_found", f"no audience {audience_id}") from None

    @app.get("/health", tags=["service"])
    def health() -> dict:
        """The database is reachable and its migrations are current."""
        from lookalike_assets.db.migrate import current_revision, head_revision

        try:
            with connection() as conn:
                conn.execute("select 1")
            current, head = current_revision(owner_url), head_revision()
        except psycopg.Error as exc:
            return JSONResponse({"status": "down", "code": "database_unreachable", "message": str(exc)[:200]}, 503)
        ok = current == head
        return JSONResponse({"status": "ok" if ok else "migrations_pending", "revision": current, "head": head},
                            200 if ok else 503)

    @app.get("/ready", tags=["service"])
    def ready() -> dict:
        with connection() as conn:
            conn.execute("select 1")
        return {"status": "ready"}

    # -- seeds
    @app.post("/v1/tenants/{tenant_id}/lookalike/seed", tags=["seeds"], status_code=201)
    def add_seed(tid: Tenant, body: SeedIn) -> SeedOut:
        with connection() as conn:
            try:
                ch = admin_ops.add_seeds(conn, tid, body.lead_ids, body.label, body.weight, source="api")
            except AdminError as exc:
                raise ApiError(400, "invalid_seed", str(exc), "lead_ids") from None
            if not ch.added and not ch.already:
                raise ApiError(404, "not_found", f"no lead {', '.join(ch.not_found[:5])} in this tenant", "lead_ids")
            with tenant_transaction(conn, tid, API_ROLE):
                ids = [str(r.seed_id) for r in Q.online.live_seed_ids(conn, tenant_id=tid, label=body.label,
                                                                       refs=ch.added + ch.already)]
        return SeedOut(seed_ids=ids, not_found=ch.not_found, already=ch.already)

    @app.get("/v1/tenants/{tenant_id}/lookalike/seed", tags=["seeds"])
    def list_seed(tid: Tenant, cursor: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Page:
        after = _uncursor(cursor)
        with connection() as conn:
            rows = admin_ops.list_seeds(conn, tid)
        items = [{"seed_id": str(r[0]), "external_id": r[1], "label": r[2], "weight": r[3],
                  "created_at": r[4].isoformat() if hasattr(r[4], "isoformat") else r[4]} for r in rows]
        items.sort(key=lambda i: (str(i["created_at"]), i["seed_id"]))
        if after:
            items = [i for i in items if (str(i["created_at"]), i["seed_id"]) > tuple(after)]
        page = items[:limit]
        more = len(items) > limit
        return Page(items=page, next_cursor=_cursor([str(page[-1]["created_at"]), page[-1]["seed_id"]])
                    if more else None)

    @app.delete("/v1/tenants/{tenant_id}/lookalike/seed/{seed_id}", tags=["seeds"], status_code=204)
    def delete_seed(tid: Tenant, seed_id: uuid.UUID) -> None:
        with connection() as conn:
            if admin_ops.remove_seeds(conn, tid, [str(seed_id)]) == 0:
                raise ApiError(404, "not_found", f"no live seed {seed_id}")

    # -- audiences
    @app.post("/v1/tenants/{tenant_id}/lookalike/audience", tags=["audiences"], status_code=201)
    def create_audience(tid: Tenant, body: AudienceIn) -> AudienceCreated:
        if body.seed_ids is not None and body.seed_set is not None:
            raise ApiError(400, "invalid_request", "give seed_ids or seed_set, not both", "seed_ids")
        seed_set = body.seed_set or ({"seed_ids": body.seed_ids} if body.seed_ids else {})
        with connection() as conn:
            try:
                aid = admin_ops.create_audience(conn, tid, body.name, seed_set=seed_set, rules=body.rules,
                                                description=body.description)
            except AdminError as exc:
                status, code = (409, "conflict") if "exists already" in str(exc) else (400, "invalid_audience")
                raise ApiError(status, code, str(exc)) from None
            except ValueError as exc:
                raise ApiError(400, "invalid_audience", str(exc)) from None
            with tenant_transaction(conn, tid, API_ROLE):
                job = Q.online.insert_job(conn, tenant_id=tid, kind="audience", audience_id=aid)
        return AudienceCreated(audience_id=str(aid), size_estimate=None, job_id=str(job.job_id))

    @app.get("/v1/tenants/{tenant_id}/lookalike/audience/{audience_id}", tags=["audiences"])
    def get_audience(tid: Tenant, audience_id: uuid.UUID, cursor: str | None = None,
                     limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict:
        after = _uncursor(cursor)
        with connection() as conn:
            a = audience_row(conn, tid, str(audience_id))
            with tenant_transaction(conn, tid, API_ROLE):
                rows = list(Q.online.members_page(conn, tenant_id=tid, audience_id=a[0],
                                                  after_score=after[0] if after else None,
                                                  after_id=after[1] if after else None, n=limit + 1))
        more = len(rows) > limit
        rows = rows[:limit]
        return {
            "audience_id": str(a[0]), "name": a[1], "description": a[2], "status": a[6], "size_estimate": a[7],
            "seed_set": a[3], "rules": a[4], "membership": (a[5] or {}).get("membership", {}),
            "members": [{"candidate_id": str(r.candidate_id), "lead_id": str(r.lead_id), "external_id": r.external_id,
                         "similarity_score": r.similarity_score, "rank_score": r.rank_score, "decile": r.decile,
                         "reasons": r.reasons} for r in rows],
            "next_cursor": _cursor([rows[-1].score, str(rows[-1].candidate_id)]) if more else None,
        }

    def _status(tid: uuid.UUID, audience_id: uuid.UUID, status: str) -> dict:
        with connection() as conn:
            a = audience_row(conn, tid, str(audience_id))
            changed = admin_ops.set_status(conn, tid, str(a[0]), status)
        return {"audience_id": str(a[0]), "status": status, "changed": changed}

    @app.post("/v1/tenants/{tenant_id}/lookalike/audience/{audience_id}/publish", tags=["audiences"])
    def publish(tid: Tenant, audience_id: uuid.UUID) -> dict:
        return _status(tid, audience_id, "published")

    @app.post("/v1/tenants/{tenant_id}/lookalike/audience/{audience_id}/retire", tags=["audiences"])
    def retire(tid: Tenant, audience_id: uuid.UUID) -> dict:
        return _status(tid, audience_id, "retired")

    @app.post("/v1/tenants/{tenant_id}/lookalike/audience/{audience_id}/feedback", tags=["audiences"],
              status_code=202)
    def feedback(tid: Tenant, audience_id: uuid.UUID, body: FeedbackIn) -> dict:
        from lookalike_assets.pipeline.conversions import record_conversions

        with connection() as conn:
            a = audience_row(conn, tid, str(audience_id))
            with tenant_transaction(conn, tid, API_ROLE):
                cand = Q.online.candidate_lead(conn, tenant_id=tid, audience_id=a[0], candidate_id=body.candidate_id)
                # a retry without occurred_at is the same event: it keeps the time of its first receipt
                seen = Q.online.event_time(conn, tenant_id=tid, event_id=body.event_id)
            if cand is None:
                raise ApiError(404, "not_found", f"no candidate {body.candidate_id} in this audience", "candidate_id")
            event = {"event_id": body.event_id, "lead_id": str(cand.lead_id), "event_type": body.event_type,
                     "value": body.value, "metadata": body.metadata or {},
                     "occurred_at": (body.occurred_at or (seen.occurred_at if seen else None)
                                     or datetime.now().astimezone()).isoformat(),
                     "audience_id": str(a[0]), "candidate_id": str(body.candidate_id)}
            report = record_conversions(conn, tid, [event], source="api")
        if report.quarantined:
            raise ApiError(400, "invalid_event", "; ".join(reason for _eid, reason in report.quarantined),
                           "event_type")
        return {"recorded": report.inserted, "duplicates": report.duplicates}

    # -- jobs
    @app.get("/v1/tenants/{tenant_id}/lookalike/jobs/{job_id}", tags=["jobs"])
    def get_job(tid: Tenant, job_id: uuid.UUID) -> JobOut:
        with connection() as conn:
            with tenant_transaction(conn, tid, API_ROLE):
                job = Q.online.get_job(conn, tenant_id=tid, job_id=str(job_id))
                if job is None:
                    raise ApiError(404, "not_found", f"no job {job_id}")
                members = Q.online.member_count(conn, tenant_id=tid, audience_id=job.audience_id)
        if "instance" not in state:  # one Dagster instance for the service's life, made on first use
            from lookalike_assets.orchestration import get_instance

            state["instance"] = get_instance()
        status, run_id = dagster_status(state["instance"], job.slug, job.created_at)
        return JobOut(job_id=str(job.job_id), kind=job.kind, status=status, run_id=run_id,
                      audience_id=str(job.audience_id) if job.audience_id else None, members=members)

    # -- leads
    @app.get("/v1/tenants/{tenant_id}/leads/{lead_id}/similar", tags=["leads"])
    def similar(tid: Tenant, lead_id: Annotated[str, PathParam(min_length=1, max_length=200)],
                k: Annotated[int, Query(ge=1, le=1000)] = 10,
                min_score: Annotated[float | None, Query(ge=-1, le=1)] = None) -> list[dict]:
        with connection() as conn:
            try:
                found = similar_leads(conn, tid, lead_id, k, min_score)
            except OnlineError as exc:
                raise ApiError(404 if exc.code == "not_found" else 409, exc.code, str(exc)) from None
        return [n.__dict__ for n in found]

    @app.post("/v1/tenants/{tenant_id}/leads/score", tags=["leads"])
    def score(tid: Tenant, body: ScoreIn) -> dict:
        with connection() as conn:
            try:
                return score_lead(conn, tid, body.attributes, get_encoder())
            except OnlineError as exc:
                raise ApiError(409 if exc.code in ("not_ready",) else 400, exc.code, str(exc)) from None

    @app.post("/v1/tenants/{tenant_id}/leads", tags=["leads"])
    def upsert(tid: Tenant, body: LeadsIn) -> dict:
        """Insert or update leads by ``external_id``, through the importer (the same inference of what each field
        is, the same validation, one transaction: a batch with a bad lead changes nothing)."""
        import csv
        import tempfile

        from lookalike_assets.pipeline.importer import ImportMapping, LeadImportError, import_leads

        missing = [i for i, lead in enumerate(body.leads) if not str(lead.get("external_id") or "").strip()]
        if missing:
            raise ApiError(400, "invalid_leads", f"lead {missing[0]} has no external_id", f"leads.{missing[0]}")
        columns = list(dict.fromkeys(k for lead in body.leads for k in lead))
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "leads.csv"
            with path.open("w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=columns)
                w.writeheader()
                for lead in body.leads:
                    w.writerow({k: "" if v is None else v if not isinstance(v, (dict, list)) else json.dumps(v)
                                for k, v in lead.items()})
            with connection() as conn:
                try:
                    report = import_leads(conn, tid, path, ImportMapping(id="external_id"))
                except LeadImportError as exc:
                    raise ApiError(400, "invalid_leads", str(exc), "leads") from None
        if report.rejected:
            raise ApiError(400, "invalid_leads", "; ".join(f"lead {r.row - 1}: {r.reason}" for r in report.rejected[:5]),
                           "leads")
        return {"inserted": report.inserted, "updated": report.updated, "unchanged": report.unchanged,
                "columns": report.columns}

    return app


def dagster_status(instance, slug: str, since: datetime) -> tuple[str, str | None]:
    """The newest run of the tenant's partition created after ``since``: its status; pending without one."""
    import dagster as dg

    runs = instance.get_run_records(dg.RunsFilter(tags={"dagster/partition": slug}, created_after=since), limit=1)
    if not runs:
        return "pending", None
    run = runs[0].dagster_run
    status = {dg.DagsterRunStatus.SUCCESS: "completed", dg.DagsterRunStatus.FAILURE: "failed",
              dg.DagsterRunStatus.CANCELED: "failed"}.get(run.status, "running")
    if run.status in (dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED):
        status = "pending"
    return status, run.run_id


def _configure(conn: psycopg.Connection) -> None:
    from lookalike_assets.db.connect import named_row

    conn.row_factory = named_row
    try:
        from pgvector.psycopg import register_vector

        register_vector(conn)
    except psycopg.ProgrammingError:
        pass
