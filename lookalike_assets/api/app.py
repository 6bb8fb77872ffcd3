"""The REST API: tenant-scoped paths, API keys bound to one tenant, JSON errors with a stable ``code``.

Every request resolves its key to a tenant (a definer function; the key's hash only), refuses a path of another
tenant (403), and works as the ``lookalike_api`` service login inside that tenant's transaction. Keys never
reach a log: the access log is off, and errors never echo the Authorization header.
"""


import base64
import importlib
import json
import logging
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import psycopg
from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import ConnectionPool, PoolTimeout
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from lookalike_assets.api.docs import install_docs
from lookalike_assets.db.connect import API_ROLE, database_url, service_url, tenant_transaction
from lookalike_assets.db.queries import Q
from lookalike_assets.domain.apikeys import hash_key, looks_like_key
from lookalike_assets.domain.exports import FORMATS
from lookalike_assets.pipeline import admin as admin_ops
from lookalike_assets.pipeline.admin import AdminError
from lookalike_assets.pipeline.common import uuid_refs
from lookalike_assets.pipeline.incrementality import audience_incrementality
from lookalike_assets.pipeline.online import OnlineError, score_lead, similar_leads
from lookalike_assets.pipeline.tuning import audience_recommendation

log = logging.getLogger("lookalike.api")


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


# "Not blank", spelled so that the schema's regex (ECMA-262, what clients and the fuzzer read) and the server's
# (pydantic's Rust engine) agree on every character: their \S differ on some control and Unicode spaces.
NOT_BLANK = r"[^\x00-\x20\x7f]"


# An identifier as the database stores it: text without NUL characters (PostgreSQL's text cannot hold one).
Ident = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00]+$")]


class SeedIn(Strict):
    lead_ids: list[Ident] = Field(min_length=1, max_length=10_000,
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


class DraftIn(Strict):
    description: str = Field(min_length=1, max_length=2000, pattern=NOT_BLANK,
                             description="the audience in words, e.g. 'CFOs at fintechs in Germany, top 5%'")
    create: bool = Field(default=False, description="create the draft audience (otherwise only propose it)")
    partial: bool = Field(default=False, description="with create: create it even if some words were not understood")
    name: str | None = Field(default=None, min_length=1, max_length=200, pattern=NOT_BLANK,
                             description="the audience's name (default: the description)")


class DraftPart(BaseModel):
    phrase: str = Field(description="the words this part was read from")
    field: str
    op: str
    value: Any
    how: str = Field(description="how it was matched: exact, country, fuzzy, meaning, number, date, ...")
    confidence: float


class DraftOut(BaseModel):
    description: str
    rules: dict
    seed_set: dict
    seed_reason: str = Field(description="why this seed set")
    parts: list[DraftPart]
    not_understood: list[str] = Field(description="words that match no field or value well enough to guess")
    notes: list[str]
    audience_id: str | None = Field(default=None, description="the draft audience, when create was asked")
    job_id: str | None = None


class AudienceCreated(BaseModel):
    audience_id: str
    size_estimate: int | None
    job_id: str
    ignored_seed_ids: list[str] = Field(default_factory=list, description="seed ids that are not seeds of this "
                                        "tenant: reported, never stored")


class AudienceEdit(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    seed_set: dict | None = None
    rules: dict | None = None


class AudienceListItem(BaseModel):
    audience_id: str
    name: str
    description: str | None
    status: str
    size_estimate: int | None
    seeds: int | None
    refreshed_at: str | None
    skipped: str | None
    top_decile_conversion_rate: float | None
    holdout_lift: dict | None
    exports: list[dict]


class EstimateIn(Strict):
    rules: dict = Field(default_factory=dict, description="draft rules, as an audience's `rules`")


class EstimateOut(BaseModel):
    eligible: int = Field(description="the tenant's embedded leads")
    matching: int = Field(description="leads the filters let through (estimated from a fixed sample)")
    size: int = Field(description="what the reach cap leaves, before seeds, exclusions and suppression")
    sample: int
    conversion_rate: float | None = Field(description="the rate the tenant's audiences converted at that size")
    notes: list[str]


class JobOut(BaseModel):
    job_id: str
    kind: Literal["audience", "export"]
    status: Literal["pending", "running", "completed", "failed"]
    run_id: str | None = None
    audience_id: str | None = None
    members: int | None = Field(default=None, description="the audience's members now")
    platform: str | None = Field(default=None, description="an export job's platform")
    exported_rows: int | None = Field(default=None, description="rows an export job wrote")
    export_status: str | None = Field(default=None, description="succeeded, skipped (below the platform's "
                                      "minimum) or failed")
    detail: str | None = None


class DestinationOptions(Strict):
    ad_account: str | None = Field(default=None, max_length=100, description="Meta: act_<id>; LinkedIn: the "
                                   "sponsored account's number.")
    url: str | None = Field(default=None, max_length=2000, description="Webhook: where batches are POSTed.")
    bucket: str | None = Field(default=None, max_length=255, description="S3.")
    prefix: str | None = Field(default=None, max_length=500, description="S3: the key prefix.")
    endpoint_url: str | None = Field(default=None, max_length=2000, description="S3: an S3-compatible service.")
    region: str | None = Field(default=None, max_length=50, description="S3.")
    customer_id: str | None = Field(default=None, max_length=20, description="Google Ads: 123-456-7890.")
    login_customer_id: str | None = Field(default=None, max_length=20, description="Google Ads: a manager account.")
    api_base_url: str | None = Field(default=None, max_length=2000, description="Another address of the "
                                     "platform's API (a proxy); part of this destination only.")


class DestinationCredentials(Strict):
    access_token: str | None = Field(default=None, max_length=4000, description="Meta, LinkedIn.")
    signing_secret: str | None = Field(default=None, max_length=4000, description="Webhook.")
    access_key_id: str | None = Field(default=None, max_length=200, description="S3.")
    secret_access_key: str | None = Field(default=None, max_length=4000, description="S3.")
    developer_token: str | None = Field(default=None, max_length=200, description="Google Ads.")
    client_id: str | None = Field(default=None, max_length=500, description="Google Ads: the OAuth client.")
    client_secret: str | None = Field(default=None, max_length=500, description="Google Ads: the OAuth client.")
    refresh_token: str | None = Field(default=None, max_length=2000, description="Google Ads: OAuth.")


class DestinationIn(Strict):
    name: str = Field(min_length=1, max_length=100)
    platform: Literal["meta", "google", "linkedin", "webhook", "s3"]
    options: DestinationOptions = Field(default_factory=DestinationOptions)
    credentials: DestinationCredentials = Field(description="Sealed at once; never returned by any endpoint.")


class DestinationEdit(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    options: DestinationOptions | None = None
    credentials: DestinationCredentials | None = Field(default=None, description="All of them, replacing the old.")
    resume: bool = Field(default=False, description="Resume a destination paused after failed syncs.")


class DestinationOut(BaseModel):
    destination_id: str
    name: str
    platform: str
    options: dict
    status: str
    paused_reason: str | None = None
    last_sync: dict | None = None


class ColumnOut(BaseModel):
    """What an imported column means, as audiences in words read it."""

    column: str = Field(description="The column as rules name it without 'attributes.' (mnt_wines).")
    field: str = Field(description="The rule field (attributes.mnt_wines).")
    label: str
    description: str
    unit: str | None
    unit_words: str
    scale: float
    synonyms: list[str]
    kind: str
    corrected: bool = Field(description="A person corrected it (else inferred from the name and values).")


class ColumnEdit(Strict):
    """A correction: only what is given changes."""

    label: str | None = Field(default=None, min_length=1, max_length=200, pattern=NOT_BLANK)
    description: str | None = Field(default=None, min_length=1, max_length=200, pattern=NOT_BLANK)
    unit: Literal["count", "count per month", "currency", "currency per month", "days", "weeks", "months", "years",
                  "minutes", "year", "percent", "ratio", "flag", "yes/no", "number"] | None = None
    scale: float | None = Field(default=None, gt=0, le=1e12,
                                description="What one stored unit is worth in the unit (1000: in thousands).")
    synonyms: list[Annotated[str, Field(min_length=1, max_length=80, pattern=NOT_BLANK)]] | None = Field(
        default=None, max_length=50)
    kind: Literal["number", "flag", "count", "yes/no", "category", "free text", "date"] | None = None


class LeadFound(BaseModel):
    lead_id: str
    external_id: str
    name: str | None
    company: str | None
    title: str | None
    industry: str | None
    country: str | None
    is_seed: bool


class ExportIn(Strict):
    platform: Literal[tuple(FORMATS)]  # type: ignore[valid-type]


class ExportCreated(BaseModel):
    export_job_id: str


class FeedbackIn(Strict):
    candidate_id: uuid.UUID
    event_type: str = Field(min_length=1, max_length=50)
    value: float | None = None
    metadata: dict | None = None
    event_id: str = Field(min_length=1, max_length=200)
    occurred_at: datetime | None = None


class LeadIn(BaseModel):
    """A lead: ``external_id`` (the key an upsert goes by) and any of the tenant's fields or new attributes."""
    model_config = ConfigDict(extra="allow")
    external_id: str = Field(min_length=1, max_length=200, pattern=NOT_BLANK)


class LeadsIn(Strict):
    leads: list[LeadIn] = Field(min_length=1, max_length=5_000)


class ScoreIn(Strict):
    attributes: dict = Field(min_length=1, description="the lead's fields (title, industry, ..., imported attributes), "
                                         "optionally external_id and email for the duplicate check")


class ErrorOut(BaseModel):
    code: str = Field(description="stable: unauthenticated, invalid_key, forbidden, not_found, invalid_request, "
                                  "conflict, not_ready, ...")
    message: str
    field: str | None = Field(default=None, description="the field a validation error is about")


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": text} for status, text in (
        (400, "The request is well-formed but the data says no (an unknown lead, an invalid rule)."),
        (401, "No API key, or one that is unknown or revoked."),
        (403, "The key is of another tenant."),
        (404, "No such thing in this tenant."),
        (409, "Not possible in the current state (exists already, not published, not built yet, or an audience "
              "rebuilt between two pages: `audience_changed`, start again without a cursor)."),
        (422, "The request does not match the schema: `field` names the first bad field."),
        (413, "The request body is over the size limit (10 MB): `too_large`."),
        (503, "The database cannot be reached just now (`unavailable`): retry after `Retry-After` seconds."),
    )
}


CURSOR = r"^[A-Za-z0-9_-]+={0,2}$"
Cursor = Annotated[str | None, Query(max_length=2000, pattern=CURSOR,
                                     description="next_cursor of the previous page")]


class Page(BaseModel):
    items: list[dict]
    next_cursor: str | None


def _plain_numbers(obj: Any) -> Any:
    """The database's numerics as JSON numbers (an integral count as an integer, a rate as a float), never as the
    strings FastAPI makes of a Decimal."""
    from decimal import Decimal

    if isinstance(obj, Decimal):
        return int(obj) if obj == obj.to_integral_value() and abs(obj) < 2 ** 53 and obj.as_tuple().exponent >= 0 \
            else float(obj)
    if isinstance(obj, dict):
        return {k: _plain_numbers(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain_numbers(v) for v in obj]
    return obj


def _cursor(obj: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj, default=str).encode()).decode()


def _uncursor(cursor: str | None, *types: type | tuple[type, ...]) -> list | None:
    """The position a cursor holds: a list of values of these types (what ``_cursor`` wrote), else a 400."""
    if not cursor:
        return None
    try:
        after = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError):
        after = None
    if not (isinstance(after, list) and len(after) == len(types)
            and all(isinstance(v, t) and not isinstance(v, bool) for v, t in zip(after, types))):
        raise ApiError(400, "invalid_cursor", "the cursor is not one this API returned", "cursor")
    return after


# ---- the application -------------------------------------------------------------------------------------------
MAX_BODY_BYTES = 10 * 1024 * 1024  # a request body above this is refused (413) before it is read whole


class BodyLimit:
    """ASGI middleware: a request whose body is over ``limit`` bytes (by its Content-Length, or as it streams in)
    answers 413 ``too_large`` without the application reading it. ``paths`` gives some paths their own limit
    (the studio's file upload)."""

    def __init__(self, app, limit: int = MAX_BODY_BYTES, paths: dict[str, int] | None = None) -> None:
        self.app, self.default, self.paths = app, limit, paths or {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.paths.get(scope.get("path", ""), self.default)
        length = dict(scope.get("headers") or []).get(b"content-length")
        too_large = _error(413, "too_large", f"the request body is over {limit // (1024 * 1024)} MB")
        if length is not None and (not length.isdigit() or int(length) > limit):
            return await too_large(scope, receive, send)
        seen = 0

        async def limited():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge()
            return message

        try:
            return await self.app(scope, limited, send)
        except _TooLarge:
            return await too_large(scope, receive, send)


class _TooLarge(Exception):
    pass


def create_app(conninfo: str | None = None, encoder=None, instance=None, *, pool_timeout: float = 10.0,
               startup_wait: float = 30.0) -> FastAPI:
    """The application against the database at ``conninfo`` (the owner's URL; the service logs in as
    lookalike_api), with a text encoder and a Dagster instance made on first use unless given."""
    owner_url = conninfo or database_url()
    pool = ConnectionPool(service_url(API_ROLE, owner_url), min_size=4, max_size=8, open=False, timeout=pool_timeout,
                          kwargs={"autocommit": True}, configure=_configure)
    state: dict[str, Any] = {"encoder": encoder}
    from lookalike_assets.domain.describe import VectorCache

    catalog_vectors = VectorCache()  # a tenant's catalog encoded once, not on every draft
    from lookalike_assets.pipeline.describe import CatalogCache

    catalogs = CatalogCache()  # and read from the database at most once a minute
    per_thread = threading.local()
    making_instance = threading.Lock()  # one at a time: a new instance may create its storage's schema

    def dagster():
        """The Dagster instance of this worker thread, made on its first use: an instance's storage (SQLite by
        default) holds objects that must stay in the thread that made them. A given ``instance`` is shared."""
        if instance is not None:
            return instance
        if getattr(per_thread, "instance", None) is None:
            from lookalike_assets.orchestration import get_instance

            with making_instance:
                per_thread.instance = get_instance()
        return per_thread.instance

    def get_encoder():
        if state["encoder"] is None:
            from lookalike_assets.domain.encoder_choice import get_encoder as make
            from lookalike_assets.settings import get_settings

            state["encoder"] = make(get_settings().encoder)
        return state["encoder"]

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(_app):
        pool.open()
        # before the first request, not during it: the encoder loaded and run once, the scoring modules imported
        # (LightGBM, pandas: over a second), the pool's connections opened
        get_encoder().encode(["warm-up"])
        importlib.import_module("lookalike_assets.pipeline.ranking")
        try:
            pool.wait(timeout=startup_wait)
        except PoolTimeout:  # the service starts anyway: /health says the database is down, requests get 503
            log.warning("the database cannot be reached: requests answer 503 until it can")
        yield
        pool.close()

    app = FastAPI(title="lookalike", version="1", lifespan=lifespan, responses=ERRORS,
                  dependencies=[Depends(known_query_parameters)], docs_url=None, redoc_url=None,
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

    @app.exception_handler(StarletteHTTPException)  # the framework's own (404, 405, a body that is not JSON)
    async def _http_error(req: Request, exc: StarletteHTTPException):
        code = {400: "invalid_body", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error")
        response = _error(exc.status_code, code, str(exc.detail))
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:  # every method the path has, not only the first route's
            response.headers["Allow"] = ", ".join(sorted(allowed_methods(app, req.scope)))
        return response

    @app.exception_handler(PoolTimeout)
    @app.exception_handler(psycopg.OperationalError)
    async def _unavailable(_req, exc: Exception):
        # the database is down or every connection busy: the caller may retry; never the driver's words
        response = _error(503, "unavailable", "the service cannot reach its database just now; try again shortly")
        response.headers["Retry-After"] = "5"
        return response

    @app.exception_handler(psycopg.DataError)
    async def _bad_value(_req, exc: psycopg.DataError):
        # a value the database cannot hold (a NUL character in free text, a number out of range): the caller's
        return _error(400, "invalid_value", f"a value cannot be stored: {type(exc).__name__}")

    @app.exception_handler(RequestValidationError)
    async def _invalid(_req, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(x) for x in first.get("loc", ()) if x not in ("body", "query", "path")]
        return _error(422, "invalid_request", f"{'.'.join(loc) or 'request'}: {first.get('msg', 'invalid')}",
                      ".".join(loc) or None)

    bearer_scheme = HTTPBearer(auto_error=False, description="`Authorization: Bearer <key>` (from `lookalike access "
                               "grant --kind api`)")
    header_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="the same key in `X-API-Key`")

    def tenant(tenant_id: Annotated[str, PathParam(max_length=100)],
               bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)] = None,
               header_key: Annotated[str | None, Depends(header_scheme)] = None) -> uuid.UUID:
        key = bearer.credentials.strip() if bearer is not None else header_key
        if not key:
            raise ApiError(401, "unauthenticated", "an API key is required (Authorization: Bearer <key>)")
        if not looks_like_key(key):
            raise ApiError(401, "invalid_key", "the API key is not valid")
        with connection() as conn:
            owner = conn.execute("select lookalike_api_key_tenant(%s)", (hash_key(key),)).fetchone()[0]
        if owner is None:
            raise ApiError(401, "invalid_key", "the API key is not valid or was revoked")
        try:
            wanted: uuid.UUID | None = uuid.UUID(tenant_id)
        except ValueError:
            wanted = None  # a slug: the key's own tenant's is accepted
        if wanted == owner:
            return owner
        with connection() as conn, tenant_transaction(conn, owner, API_ROLE):
            own = Q.tenants.get_tenant(conn, tenant_id=owner)
        if wanted is None and own is not None and tenant_id == own.slug:
            return owner
        # say which tenant the key is for (its own, never the one asked for): a key's id and a tenant's id are easy
        # to confuse
        raise ApiError(403, "forbidden", f"this key is not for that tenant: it is for tenant "
                       f"{own.slug if own else ''!r} ({owner})")

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
        except (psycopg.Error, PoolTimeout):
            return JSONResponse({"status": "down", "code": "database_unreachable",
                                 "message": "the database cannot be reached"}, 503)
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
                                                                       refs=ch.added + ch.already,
                                                                       ids=uuid_refs(ch.added + ch.already))]
        return SeedOut(seed_ids=ids, not_found=ch.not_found, already=ch.already)

    @app.get("/v1/tenants/{tenant_id}/lookalike/seed", tags=["seeds"])
    def list_seed(tid: Tenant, cursor: Cursor = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Page:
        after = _uncursor(cursor, str, str)
        if after:
            try:
                datetime.fromisoformat(after[0])
                uuid.UUID(after[1])
            except ValueError:
                raise ApiError(400, "invalid_cursor", "the cursor is not one this API returned", "cursor") from None
        with connection() as conn:
            rows = admin_ops.seed_page(conn, tid, (after[0], after[1]) if after else None, limit + 1)
        items = [{"seed_id": str(r.seed_id), "external_id": r.external_id, "label": r.label, "weight": r.weight,
                  "source": r.source, "created_at": r.created_at.isoformat()} for r in rows[:limit]]
        more = len(rows) > limit
        return Page(items=items, next_cursor=_cursor([items[-1]["created_at"], items[-1]["seed_id"]])
                    if more else None)

    @app.delete("/v1/tenants/{tenant_id}/lookalike/seed/{seed_id}", tags=["seeds"], status_code=204)
    def delete_seed(tid: Tenant, seed_id: uuid.UUID) -> None:
        with connection() as conn:
            if admin_ops.remove_seeds(conn, tid, [str(seed_id)]) == 0:
                raise ApiError(404, "not_found", f"no live seed {seed_id}")

    # -- audiences
    def audience_job(conn, tid: uuid.UUID, write) -> tuple[uuid.UUID, uuid.UUID]:
        """``write()`` (a create or an edit of an audience, returning its id) and the job that follows its build
        (the tenant's partition runs on the next sensor tick); what the write refuses becomes the API's error."""
        try:
            aid = write()
        except AdminError as exc:
            status, code = (409, "conflict") if "exists already" in str(exc) else (400, "invalid_audience")
            raise ApiError(status, code, str(exc)) from None
        except ValueError as exc:
            raise ApiError(400, "invalid_audience", str(exc)) from None
        with tenant_transaction(conn, tid, API_ROLE):
            job = Q.online.insert_job(conn, tenant_id=tid, kind="audience", audience_id=aid, platform=None)
        return aid, job.job_id

    def new_audience(conn, tid: uuid.UUID, name: str, seed_set: dict, rules: dict | None,
                     description: str | None) -> tuple[uuid.UUID, uuid.UUID]:
        """A draft audience and the job that builds it."""
        return audience_job(conn, tid, lambda: admin_ops.create_audience(
            conn, tid, name, seed_set=seed_set, rules=rules, description=description))

    @app.post("/v1/tenants/{tenant_id}/lookalike/audience/draft", tags=["audiences"],
              responses={201: {"model": DraftOut, "description": "The proposal, created as a draft audience."}})
    def draft_audience(tid: Tenant, body: DraftIn, response: Response) -> DraftOut:
        """Read a description against the tenant's own fields, values and seeds into proposed rules and a seed
        set, with the reason for each part (200); with ``create``, also create it as a draft audience (201).
        Words it cannot place are listed in ``not_understood``, never guessed; creating refuses them (400
        ``not_understood``) unless ``partial``."""
        from lookalike_assets.domain.describe import DescriptionError
        from lookalike_assets.domain.rules import RuleError
        from lookalike_assets.pipeline.describe import describe_audience, meaning_encoder

        with connection() as conn:
            try:
                draft = describe_audience(conn, tid, body.description, meaning_encoder(get_encoder()),
                                          cache=catalog_vectors, role=API_ROLE, catalogs=catalogs)
            except (DescriptionError, RuleError) as exc:
                raise ApiError(400, "invalid_description", str(exc), "description") from None
            out = DraftOut(**draft.as_dict())
            if not body.create:
                return out
            if draft.not_understood and not body.partial:
                raise ApiError(400, "not_understood", "not created: some words were not understood ("
                               + ", ".join(map(repr, draft.not_understood)) + "); reword them, or set partial",
                               "description")
            aid, job_id = new_audience(conn, tid, (body.name or body.description).strip()[:200], draft.seed_set,
                                       draft.rules, body.description)
        response.status_code = 201
        return out.model_copy(update={"audience_id": str(aid), "job_id": str(job_id)})

    @app.get("/v1/tenants/{tenant_id}/lookalike/audience", tags=["audiences"])
    def list_audiences(tid: Tenant, q: Annotated[str | None, Query(max_length=200)] = None,
                       status: Annotated[str | None, Query(pattern="^(draft|published|retired)$")] = None
                       ) -> list[AudienceListItem]:
        """The tenant's audiences by name, with the figures the studio shows (``q``: words of the name or
        description; ``status``)."""
        from lookalike_assets.pipeline import studio

        with connection() as conn:
            rows = studio.audiences(conn, tid, API_ROLE, q=q, status=status)
        return [AudienceListItem(audience_id=str(r.audience_id), name=r.name, description=r.description,
                                 status=r.status, size_estimate=r.size, seeds=r.seeds,
                                 refreshed_at=r.refreshed_at.isoformat() if r.refreshed_at else None,
                                 skipped=r.skipped, top_decile_conversion_rate=r.top_decile_rate,
                                 holdout_lift=jsonable_encoder(r.lift) if r.lift else None,
                                 exports=jsonable_encoder(r.exports)) for r in rows]

    @app.patch("/v1/tenants/{tenant_id}/lookalike/audience/{audience_id:uuid}", tags=["audiences"])
    def edit_audience(tid: Tenant, audience_id: uuid.UUID, body: AudienceEdit) -> AudienceCreated:
        """Change an audience's name, description, seed set or rules, validated like a new one; the tenant's next
        run rebuilds it (the returned job follows it)."""
        with connection() as conn:
            a = audience_row(conn, tid, str(audience_id))

            def edit():
                admin_ops.edit_audience(conn, tid, str(a[0]), name=body.name, seed_set=body.seed_set,
                                        rules=body.rules, description=body.description)
                return a[0]

            _aid, job_id = audience_job(conn, tid, edit)
        return AudienceCreated(audience_id=str(a[0]), size_estimate=a[7], job_id=str(job_id))

    @app.delete("/v1/tenants/{tenant_id}/lookalike/audience/{audience_id:uuid}", tags=["audiences"],
                status_code=204)
    def delete_audience(tid: Tenant, audience_id: uuid.UUID) -> None:
        """Delete an audience with its pool, members, export log, attributed facts and export files."""
        from lookalike_assets.settings import get_settings

        with connection() as conn:
            a = audience_row(conn, tid, str(audience_id))
            admin_ops.delete_audience(conn, tid, str(a[0]), get_settings().exports_dir)

    @app.post("/v1/tenants/{tenant_id}/lookalike/audience/estimate", tags=["audiences"])
    def estimate_reach(tid: Tenant, body: EstimateIn) -> EstimateOut:
        """How many leads draft rules would reach and the conversion rate to expect at that size (what the
        studio's reach slider shows)."""
        from lookalike_assets.domain.rules import RuleError
        from lookalike_assets.pipeline import studio

        with connection() as conn:
            try:
                e = studio.reach_estimate(conn, tid, body.rules, API_ROLE)
            except (RuleError, ValueError) as exc:
                raise ApiError(400, "invalid_audience", str(exc), "rules") from None
        return EstimateOut(eligible=e.eligible, matching=e.matching, size=e.size, sample=e.sample,
                           conversion_rate=e.conversion_rate, notes=e.notes)

    @app.post("/v1/tenants/{tenant_id}/lookalike/audience", tags=["audiences"], status_code=201)
    def create_audience(tid: Tenant, body: AudienceIn) -> AudienceCreated:
        if body.seed_ids is not None and body.seed_set is not None:
            raise ApiError(400, "invalid_request", "give seed_ids or seed_set, not both", "seed_ids")
        seed_set = body.seed_set or ({"seed_ids": body.seed_ids} if body.seed_ids else {})
        with connection() as conn:
            try:
                seed_set, ignored = admin_ops.own_seed_set(conn, tid, seed_set)
            except AdminError as exc:
                raise ApiError(400, "invalid_audience", str(exc), "seed_ids") from None
            aid, job_id = new_audience(conn, tid, body.name, seed_set, body.rules, body.description)
        return AudienceCreated(audience_id=str(aid), size_estimate=None, job_id=str(job_id), ignored_seed_ids=ignored)

    @app.get("/v1/tenants/{tenant_id}/lookalike/audience/{audience_id:uuid}", tags=["audiences"])
    def get_audience(tid: Tenant, audience_id: uuid.UUID, cursor: Cursor = None,
                     limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict:
        after = _uncursor(cursor, (int, float), str, str)
        if after:
            try:
                after[1] = str(uuid.UUID(after[1]))
            except ValueError:
                raise ApiError(400, "invalid_cursor", "the cursor is not one this API returned", "cursor") from None
        with connection() as conn:
            a = audience_row(conn, tid, str(audience_id))
            # the cursor holds the membership it paged through: rebuilt since (new members, new scores), its
            # position means nothing in the new order
            built = str(((a[5] or {}).get("membership") or {}).get("refreshed_at") or "")
            if after and after[2] != built:
                raise ApiError(409, "audience_changed", f"audience {a[1]!r} was rebuilt since the first page: start "
                               "again without a cursor", "cursor")
            with tenant_transaction(conn, tid, API_ROLE):
                rows = list(Q.online.members_page(conn, tenant_id=tid, audience_id=a[0],
                                                  after_score=after[0] if after else None,
                                                  after_id=after[1] if after else None, n=limit + 1))
                segments = [r._asdict() for r in Q.segments.audience_segments(conn, tenant_id=tid,
                                                                              audience_id=a[0])]
            lift = audience_incrementality(conn, tid, API_ROLE)
            recommendation, tuning_note = audience_recommendation(conn, tid, a[0], API_ROLE)
            from lookalike_assets.pipeline.destinations import audience_syncs

            syncs = audience_syncs(conn, tid, a[0], API_ROLE)
        more = len(rows) > limit
        rows = rows[:limit]
        return {
            "audience_id": str(a[0]), "name": a[1], "description": a[2], "status": a[6], "size_estimate": a[7],
            "seed_set": a[3], "rules": a[4], "membership": (a[5] or {}).get("membership", {}),
            "segments": segments, "segmentation": (a[5] or {}).get("segments", {}),
            "holdout": ((a[5] or {}).get("membership") or {}).get("holdout") or {},
            "incrementality": next((x for x in lift or () if x["audience_id"] == a[0]), None),
            "recommendation": recommendation, "recommendation_note": tuning_note,
            "syncs": jsonable_encoder(syncs),
            "members": [{"candidate_id": str(r.candidate_id), "lead_id": str(r.lead_id), "external_id": r.external_id,
                         "similarity_score": r.similarity_score, "rank_score": r.rank_score, "decile": r.decile,
                         "reasons": r.reasons, "segment_no": r.segment_no, "arm": r.arm} for r in rows],
            "next_cursor": _cursor([rows[-1].score, str(rows[-1].candidate_id), built]) if more else None,
        }

    def _status(tid: uuid.UUID, audience_id: uuid.UUID, status: str) -> dict:
        with connection() as conn:
            a = audience_row(conn, tid, str(audience_id))
            changed = admin_ops.set_status(conn, tid, str(a[0]), status)
        return {"audience_id": str(a[0]), "status": status, "changed": changed}

    @app.post("/v1/tenants/{tenant_id}/lookalike/audience/{audience_id:uuid}/publish", tags=["audiences"])
    def publish(tid: Tenant, audience_id: uuid.UUID) -> dict:
        return _status(tid, audience_id, "published")

    @app.post("/v1/tenants/{tenant_id}/lookalike/audience/{audience_id:uuid}/retire", tags=["audiences"])
    def retire(tid: Tenant, audience_id: uuid.UUID) -> dict:
        return _status(tid, audience_id, "retired")

    @app.post("/v1/tenants/{tenant_id}/lookalike/audience/{audience_id:uuid}/feedback", tags=["audiences"],
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

    @app.post("/v1/tenants/{tenant_id}/lookalike/audience/{audience_id:uuid}/export", tags=["audiences"],
              status_code=202)
    def export(tid: Tenant, audience_id: uuid.UUID, body: ExportIn) -> ExportCreated:
        """Export a published audience to a platform's upload format, whatever its destinations say: a job the
        export sensor runs (poll it at .../jobs/{export_job_id})."""
        with connection() as conn:
            a = audience_row(conn, tid, str(audience_id))
            try:
                job_id = admin_ops.request_export(conn, tid, str(a[0]), body.platform, API_ROLE)
            except admin_ops.NotPublished as exc:
                raise ApiError(409, "not_published", str(exc)) from None
            except admin_ops.TooSmallForPlatform as exc:
                raise ApiError(409, "too_small", str(exc)) from None
        return ExportCreated(export_job_id=str(job_id))

    @app.get("/v1/tenants/{tenant_id}/lookalike/audience/{audience_id:uuid}/performance", tags=["audiences"])
    def performance(tid: Tenant, audience_id: uuid.UUID) -> dict:
        """The audience's figures from the marts (as of their last build): size, conversions and rates against
        the tenant's base rate, the last export, conversion by similarity decile (10 = the best tenth), and for an
        audience with a holdout its incrementality (treatment against control, lift with its 95 % interval)."""
        with connection() as conn:
            a = audience_row(conn, tid, str(audience_id))
            try:
                with tenant_transaction(conn, tid, API_ROLE):
                    summary = Q.online.audience_summary(conn, tenant_id=tid, audience_id=a[0])
                    buckets = list(Q.online.audience_deciles_performance(conn, tenant_id=tid, audience_id=a[0]))
            except psycopg.errors.UndefinedTable:
                summary = None
            lift = audience_incrementality(conn, tid, API_ROLE)
        if summary is None:
            raise ApiError(409, "not_ready", f"the marts have no figures for audience {a[1]!r} yet: they are "
                           "rebuilt hourly (or by `lookalike marts`)")
        return {"audience_id": str(a[0]), "name": a[1], "metrics": _plain_numbers(summary._asdict()),
                "by_similarity_bucket": [_plain_numbers(b._asdict()) for b in buckets],
                "holdout": ((a[5] or {}).get("membership") or {}).get("holdout") or {},
                "incrementality": _plain_numbers(next((x for x in lift or () if x["audience_id"] == a[0]), None))}

    # -- jobs
    @app.get("/v1/tenants/{tenant_id}/lookalike/jobs/{job_id}", tags=["jobs"])
    def get_job(tid: Tenant, job_id: uuid.UUID) -> JobOut:
        with connection() as conn:
            with tenant_transaction(conn, tid, API_ROLE):
                job = Q.online.get_job(conn, tenant_id=tid, job_id=str(job_id))
                if job is None:
                    raise ApiError(404, "not_found", f"no job {job_id}")
                members = Q.online.member_count(conn, tenant_id=tid, audience_id=job.audience_id)
            if job.kind == "export":
                from lookalike_assets.defs.audiences.api_exports import API_JOB_TAG

                status, run = dagster_status(dagster(), {API_JOB_TAG: str(job.job_id)}, job.created_at)
                with tenant_transaction(conn, tid, API_ROLE):
                    done = list(Q.exports.export_results(conn, tenant_id=tid, run_id=run.run_id)) if run else []
                return JobOut(job_id=str(job.job_id), kind="export", status=status, run_id=run and run.run_id,
                              audience_id=str(job.audience_id), members=members, platform=job.platform,
                              exported_rows=sum(r.row_count or 0 for r in done) if done else None,
                              export_status=done[0].status if done else None,
                              detail=(done[0].error if done else None) or _failure(run))
        status, run = dagster_status(dagster(), {"dagster/partition": job.slug}, job.created_at)
        return JobOut(job_id=str(job.job_id), kind=job.kind, status=status, run_id=run and run.run_id,
                      audience_id=str(job.audience_id) if job.audience_id else None, members=members,
                      detail=_failure(run))

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

    # -- destinations
    def destination_out(d: dict) -> DestinationOut:
        last = None if d.get("last_status") is None else {
            "status": d["last_status"], "finished_at": d["last_finished_at"], "added": d["last_added"],
            "removed": d["last_removed"], "error": d["last_error"]}
        return DestinationOut(destination_id=str(d["destination_id"]), name=d["name"], platform=d["platform"],
                              options=d["options"] or {}, status=d["status"], paused_reason=d.get("paused_reason"),
                              last_sync=jsonable_encoder(last))

    def destination_row(conn, tid: uuid.UUID, destination_id: uuid.UUID) -> dict:
        from lookalike_assets.pipeline.destinations import list_destinations

        found = next((d for d in list_destinations(conn, tid, API_ROLE)
                      if d["destination_id"] == destination_id), None)
        if found is None:
            raise ApiError(404, "not_found", f"no destination {destination_id}")
        return found

    @app.get("/v1/tenants/{tenant_id}/destinations", tags=["destinations"])
    def list_destinations_route(tid: Tenant) -> list[DestinationOut]:
        """The tenant's destinations with their state and last sync; never their credentials."""
        from lookalike_assets.pipeline.destinations import list_destinations

        with connection() as conn:
            return [destination_out(d) for d in list_destinations(conn, tid, API_ROLE)]

    @app.post("/v1/tenants/{tenant_id}/destinations", tags=["destinations"], status_code=201)
    def add_destination_route(tid: Tenant, body: DestinationIn) -> DestinationOut:
        """A destination of the tenant; its credentials are sealed at once (only the pipeline, which syncs, reads
        them). Name it in an audience's rules as ``{"destination": NAME}``."""
        from lookalike_assets.pipeline.destinations import add_destination
        from lookalike_assets.settings import get_settings

        with connection() as conn:
            try:
                did = add_destination(conn, tid, body.name, body.platform, body.options.model_dump(),
                                      {k: v or "" for k, v in body.credentials.model_dump().items()},
                                      get_settings().secret_value())
            except AdminError as exc:
                raise ApiError(409 if "exists already" in str(exc) else 400,
                               "conflict" if "exists already" in str(exc) else "invalid_destination", str(exc)) from None
            return destination_out(destination_row(conn, tid, did))

    @app.patch("/v1/tenants/{tenant_id}/destinations/{destination_id}", tags=["destinations"])
    def edit_destination_route(tid: Tenant, destination_id: uuid.UUID, body: DestinationEdit) -> DestinationOut:
        from lookalike_assets.pipeline.destinations import update_destination
        from lookalike_assets.settings import get_settings

        with connection() as conn:
            destination_row(conn, tid, destination_id)
            try:
                update_destination(conn, tid, str(destination_id), get_settings().secret_value(), name=body.name,
                                   options=body.options.model_dump(exclude_unset=True) if body.options else None,
                                   credentials={k: v for k, v in body.credentials.model_dump().items() if v}
                                   if body.credentials else None, resume=body.resume)
            except AdminError as exc:
                raise ApiError(409 if "exists already" in str(exc) else 400,
                               "conflict" if "exists already" in str(exc) else "invalid_destination", str(exc)) from None
            return destination_out(destination_row(conn, tid, destination_id))

    @app.delete("/v1/tenants/{tenant_id}/destinations/{destination_id}", tags=["destinations"], status_code=204)
    def delete_destination_route(tid: Tenant, destination_id: uuid.UUID) -> None:
        """Forget a destination and its sync history (the platform keeps what it received)."""
        from lookalike_assets.pipeline.destinations import remove_destination

        with connection() as conn:
            destination_row(conn, tid, destination_id)
            remove_destination(conn, tid, str(destination_id))

    # -- columns
    def column_out(m) -> ColumnOut:
        from lookalike_assets.domain.meanings import describe_unit

        return ColumnOut(column=m.field.removeprefix("attributes."), field=m.field, label=m.label,
                         description=m.description, unit=m.unit, unit_words=describe_unit(m), scale=m.scale,
                         synonyms=list(m.synonyms), kind=m.kind, corrected=not m.inferred)

    ColumnName = Annotated[str, PathParam(min_length=1, max_length=200, pattern=NOT_BLANK)]

    @app.get("/v1/tenants/{tenant_id}/columns", tags=["columns"])
    def list_columns(tid: Tenant) -> list[ColumnOut]:
        """What each imported column means: its readable name, unit, kind and the words people use for it (what
        audiences described in words match against), inferred from its name and values unless corrected."""
        from lookalike_assets.pipeline.describe import column_meanings

        with connection() as conn:
            return [column_out(m) for m in column_meanings(conn, tid, API_ROLE).values()]

    def correct(tid: uuid.UUID, column: str, correction: dict | None) -> ColumnOut:
        from lookalike_assets.domain.meanings import MeaningError
        from lookalike_assets.pipeline.describe import UnknownColumn, correct_column

        with connection() as conn:
            try:
                return column_out(correct_column(conn, tid, column, correction, API_ROLE))
            except UnknownColumn as exc:
                raise ApiError(404, "not_found", str(exc)) from None
            except MeaningError as exc:
                raise ApiError(400, "invalid_column", str(exc)) from None

    @app.put("/v1/tenants/{tenant_id}/columns/{column}", tags=["columns"])
    def correct_column_route(tid: Tenant, column: ColumnName, body: ColumnEdit) -> ColumnOut:
        """Correct what a column means ("MntWines" is "amount spent on wine", in euros; "tenure" counts months):
        the next description reads it so. Replaces the column's earlier correction."""
        given = body.model_dump(exclude_none=True)
        if not given:
            raise ApiError(400, "invalid_column", "say what to correct: label, description, unit, scale, synonyms "
                                                  "or kind")
        return correct(tid, column, given)

    @app.delete("/v1/tenants/{tenant_id}/columns/{column}", tags=["columns"])
    def forget_column_correction(tid: Tenant, column: ColumnName) -> ColumnOut:
        """Forget a column's correction: back to what is inferred from its name and values."""
        return correct(tid, column, None)

    @app.get("/v1/tenants/{tenant_id}/leads", tags=["leads"])
    def find_leads(tid: Tenant, q: Annotated[str, Query(min_length=1, max_length=200)],
                   limit: Annotated[int, Query(ge=1, le=200)] = 50) -> list[LeadFound]:
        """The tenant's leads whose ``external_id`` is ``q``, or whose name, company, title or email contains it
        (what the studio's lead search shows)."""
        from lookalike_assets.pipeline import studio

        with connection() as conn:
            rows = studio.find_leads(conn, tid, q, API_ROLE, n=limit)
        return [LeadFound(lead_id=str(r["lead_id"]), external_id=r["external_id"], name=r["person"],
                          company=r["company"], title=r["title"], industry=r["industry"], country=r["country"],
                          is_seed=r["is_seed"]) for r in rows]

    @app.post("/v1/tenants/{tenant_id}/leads", tags=["leads"])
    def upsert(tid: Tenant, body: LeadsIn, dry_run: Annotated[bool, Query()] = False) -> dict:
        """Insert or update leads by ``external_id``, through the importer (the same inference of what each field
        is, the same validation, one transaction: a batch with a bad lead changes nothing). ``dry_run``: the same
        checks, nothing stored; the answer says what would be inserted or updated, how each field is read and
        which leads would be refused (the studio's upload preview)."""
        import csv
        import tempfile

        from lookalike_assets.pipeline.importer import ImportMapping, LeadImportError, import_leads

        leads = [lead.model_dump() for lead in body.leads]
        columns = list(dict.fromkeys(k for lead in leads for k in lead))
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "leads.csv"
            with path.open("w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=columns)
                w.writeheader()
                for lead in leads:
                    w.writerow({k: "" if v is None else v if not isinstance(v, (dict, list)) else json.dumps(v)
                                for k, v in lead.items()})
            with connection() as conn:
                try:
                    report = import_leads(conn, tid, path, ImportMapping(id="external_id"), all_or_nothing=True,
                                          dry_run=dry_run)
                except LeadImportError as exc:
                    raise ApiError(400, "invalid_leads", str(exc), "leads") from None
        if dry_run:
            return {"dry_run": True, "inserted": report.inserted, "updated": report.updated,
                    "unchanged": report.unchanged, "columns": report.columns,
                    "rejected": [{"lead": r.row, "external_id": r.external_id, "reason": r.reason}
                                 for r in report.rejected]}
        if report.rejected:
            raise ApiError(400, "invalid_leads", "; ".join(f"lead {r.row}: {r.reason}" for r in report.rejected[:5])
                           + "; nothing was stored (a batch is stored whole or not at all)", "leads")
        return {"inserted": report.inserted, "updated": report.updated, "unchanged": report.unchanged,
                "columns": report.columns}

    from lookalike_assets.settings import get_settings
    from lookalike_assets.studio.web import UPLOAD_BYTES as STUDIO_UPLOAD_BYTES
    from lookalike_assets.studio.web import install as install_studio

    def describe_for_studio(conn, tid, text):
        from lookalike_assets.pipeline.describe import describe_audience, meaning_encoder

        return describe_audience(conn, tid, text, meaning_encoder(get_encoder()), cache=catalog_vectors, role=API_ROLE,
                                 catalogs=catalogs)

    # the web app, on the same pool and logins
    def build_progress(slug: str, since: datetime) -> dict | None:
        return run_steps(dagster(), {"dagster/partition": slug}, since)

    install_studio(app, connection, get_settings().secret_value(), describe=describe_for_studio,
                   progress=build_progress)
    install_docs(app)
    app.add_middleware(BodyLimit, paths={"/studio/leads/upload": STUDIO_UPLOAD_BYTES + 64 * 1024})
    return app


def dagster_status(instance, tags: dict[str, str], since: datetime):
    """The newest Dagster run with these tags created after ``since``: its status for a poller, and the run
    (pending and None without one)."""
    import dagster as dg

    runs = instance.get_run_records(dg.RunsFilter(tags=tags, created_after=since), limit=1)
    if not runs:
        return "pending", None
    run = runs[0].dagster_run
    status = {dg.DagsterRunStatus.SUCCESS: "completed", dg.DagsterRunStatus.FAILURE: "failed",
              dg.DagsterRunStatus.CANCELED: "failed"}.get(run.status, "running")
    if run.status in (dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED):
        status = "pending"
    return status, run


def run_steps(instance, tags: dict[str, str], since: datetime) -> dict | None:
    """The newest Dagster run with these tags created after ``since``, step by step: its status (as
    ``dagster_status``) and each planned step in order with its state (``done``, ``running``, ``failed``,
    ``skipped`` or ``waiting``); None before a run started."""
    status, run = dagster_status(instance, tags, since)
    if run is None:
        return None
    # a step's status by its value (the enum is not part of Dagster's public API)
    stats = {s.step_key: getattr(s.status, "value", None) for s in instance.get_run_step_stats(run.run_id)}
    plan = []
    if run.execution_plan_snapshot_id:
        snap = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
        plan = [st.key for st in snap.steps] if snap else []
    states = {"SUCCESS": "done", "FAILURE": "failed", "SKIPPED": "skipped", "IN_PROGRESS": "running"}
    steps = [(key, states.get(stats[key], "running") if key in stats else "waiting")
             for key in plan or list(stats)]
    return {"status": status, "steps": steps}


def _failure(run) -> str | None:
    import dagster as dg

    if run is None or run.status not in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED):
        return None
    return f"run {run.status.value.lower()}: see run {run.run_id} in the Dagster UI"


def known_query_parameters(request: Request) -> None:
    """A query parameter the operation does not have is refused (400 ``unknown_parameter``), not ignored: a
    misspelt ``min_scroe`` would otherwise return an unfiltered answer as if it had been applied."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    known: set[str] = set()
    stack = [dependant]
    while stack:
        d = stack.pop()
        known.update(f.alias for f in d.query_params)
        stack.extend(d.dependencies)
    for name in request.query_params:
        if name not in known:
            raise ApiError(400, "unknown_parameter", f"unknown query parameter {name!r}"
                           + (f"; this operation takes {', '.join(sorted(known))}" if known else
                              "; this operation takes none"), name or None)


def allowed_methods(app: FastAPI, scope) -> set[str]:
    from starlette.routing import Match

    return {m for route in app.router.routes if route.matches(scope)[0] == Match.PARTIAL
            for m in (getattr(route, "methods", None) or ())}


def _configure(conn: psycopg.Connection) -> None:
    from lookalike_assets.db.connect import named_row

    conn.row_factory = named_row
    # a plan per call: a generic plan (a parameter for the tenant) could not use a tenant's partial ANN index
    conn.execute("set plan_cache_mode = force_custom_plan")
    try:
        from pgvector.psycopg import register_vector

        register_vector(conn)
    except psycopg.ProgrammingError:
        pass
