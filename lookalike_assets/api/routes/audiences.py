"""A tenant's audiences: drafted from words or rules, built by the tenant's next run, published, exported,
judged by their conversions."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Query, Response
from fastapi.encoders import jsonable_encoder

from lookalike_assets.api.deps import Conn, ServicesDep, Tenant
from lookalike_assets.api.errors import ApiError
from lookalike_assets.api.pagination import Cursor, Limit, decode_cursor, encode_cursor, invalid_cursor
from lookalike_assets.api.schemas import (
    AudienceCreated,
    AudienceDetail,
    AudienceEdit,
    AudienceIn,
    AudienceListItem,
    DraftIn,
    DraftOut,
    EstimateIn,
    EstimateOut,
    ExportCreated,
    ExportIn,
    FeedbackIn,
    FeedbackRecorded,
    Member,
    Performance,
    StatusChange,
    given_rules,
)
from lookalike_assets.db.connect import API_ROLE, tenant_transaction
from lookalike_assets.db.queries import Q
from lookalike_assets.pipeline import admin as admin_ops
from lookalike_assets.pipeline.admin import AdminError, AlreadyExists
from lookalike_assets.pipeline.incrementality import audience_incrementality
from lookalike_assets.pipeline.tuning import audience_recommendation

router = APIRouter(prefix="/lookalike/audience", tags=["audiences"])
AUDIENCE = "/{audience_id:uuid}"


def plain_numbers(obj: Any) -> Any:
    """The database's numerics as JSON numbers (an integral count as an integer, a rate as a float), never as the
    strings FastAPI makes of a Decimal."""
    from decimal import Decimal

    if isinstance(obj, Decimal):
        return int(obj) if obj == obj.to_integral_value() and abs(obj) < 2 ** 53 and obj.as_tuple().exponent >= 0 \
            else float(obj)
    if isinstance(obj, dict):
        return {k: plain_numbers(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain_numbers(v) for v in obj]
    return obj


def audience_of(conn: psycopg.Connection, tid: uuid.UUID, audience_id: uuid.UUID | str):
    """The tenant's audience (a row by column name), else a 404."""
    try:
        return admin_ops.find_audience(conn, tid, str(audience_id))
    except AdminError:
        raise ApiError(404, "not_found", f"no audience {audience_id}") from None


def membership(a) -> dict:
    return (a.metadata or {}).get("membership") or {}


def audience_job(conn: psycopg.Connection, tid: uuid.UUID, write: Callable[[], uuid.UUID]
                 ) -> tuple[uuid.UUID, uuid.UUID]:
    """``write()`` (a create or an edit of an audience, returning its id) and the job that follows its build
    (the tenant's partition runs on the next sensor tick); what the write refuses becomes the API's error."""
    try:
        aid = write()
    except AlreadyExists as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    except (AdminError, ValueError) as exc:
        raise ApiError(400, "invalid_audience", str(exc)) from None
    with tenant_transaction(conn, tid, API_ROLE):
        job = Q.online.insert_job(conn, tenant_id=tid, kind="audience", audience_id=aid, platform=None)
    return aid, job.job_id


def new_audience(conn: psycopg.Connection, tid: uuid.UUID, name: str, seed_set: dict, rules: dict | None,
                 description: str | None) -> tuple[uuid.UUID, uuid.UUID]:
    """A draft audience and the job that builds it."""
    return audience_job(conn, tid, lambda: admin_ops.create_audience(
        conn, tid, name, seed_set=seed_set, rules=rules, description=description))


@router.post("/draft", responses={201: {"model": DraftOut, "description": "The proposal, created as a draft "
                                        "audience."}})
def draft_audience(tid: Tenant, conn: Conn, svc: ServicesDep, body: DraftIn, response: Response) -> DraftOut:
    """Read a description against the tenant's own fields, values and seeds into proposed rules and a seed
    set, with the reason for each part (200); with ``create``, also create it as a draft audience (201).
    Words it cannot place are listed in ``not_understood``, never guessed; creating refuses them (400
    ``not_understood``) unless ``partial``."""
    from lookalike_assets.domain.describe import DescriptionError
    from lookalike_assets.domain.rules import RuleError
    from lookalike_assets.pipeline.describe import describe_audience, meaning_encoder

    try:
        draft = describe_audience(conn, tid, body.description, meaning_encoder(svc.encoder()),
                                  cache=svc.catalog_vectors, role=API_ROLE, catalogs=svc.catalogs)
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


@router.get("")
def list_audiences(tid: Tenant, conn: Conn, q: Annotated[str | None, Query(max_length=200)] = None,
                   status: Annotated[str | None, Query(pattern="^(draft|published|retired)$")] = None
                   ) -> list[AudienceListItem]:
    """The tenant's audiences by name, with the figures the studio shows (``q``: words of the name or
    description; ``status``)."""
    from lookalike_assets.pipeline import studio

    rows = studio.audiences(conn, tid, API_ROLE, q=q, status=status)
    return [AudienceListItem(audience_id=str(r.audience_id), name=r.name, description=r.description,
                             status=r.status, size_estimate=r.size, seeds=r.seeds,
                             refreshed_at=r.refreshed_at.isoformat() if r.refreshed_at else None,
                             skipped=r.skipped, top_decile_conversion_rate=r.top_decile_rate,
                             holdout_lift=jsonable_encoder(r.lift) if r.lift else None,
                             exports=jsonable_encoder(r.exports)) for r in rows]


@router.post("", status_code=201)
def create_audience(tid: Tenant, conn: Conn, body: AudienceIn) -> AudienceCreated:
    """A draft audience from a seed set (or seed ids) and rules; the returned job follows its first build."""
    if body.seed_ids is not None and body.seed_set is not None:
        raise ApiError(400, "invalid_request", "give seed_ids or seed_set, not both", "seed_ids")
    seed_set = body.seed_set or ({"seed_ids": body.seed_ids} if body.seed_ids else {})
    try:
        seed_set, ignored = admin_ops.own_seed_set(conn, tid, seed_set)
    except AdminError as exc:
        raise ApiError(400, "invalid_audience", str(exc), "seed_ids") from None
    aid, job_id = new_audience(conn, tid, body.name, seed_set, given_rules(body), body.description)
    return AudienceCreated(audience_id=str(aid), size_estimate=None, job_id=str(job_id), ignored_seed_ids=ignored)


@router.post("/estimate")
def estimate_reach(tid: Tenant, conn: Conn, body: EstimateIn) -> EstimateOut:
    """How many leads draft rules would reach and the conversion rate to expect at that size (what the
    studio's reach slider shows)."""
    from lookalike_assets.domain.rules import RuleError
    from lookalike_assets.pipeline import studio

    try:
        e = studio.reach_estimate(conn, tid, given_rules(body) or {}, API_ROLE)
    except (RuleError, ValueError) as exc:
        raise ApiError(400, "invalid_audience", str(exc), "rules") from None
    return EstimateOut(eligible=e.eligible, matching=e.matching, size=e.size, sample=e.sample,
                       conversion_rate=e.conversion_rate, notes=e.notes)


@router.get(AUDIENCE)
def get_audience(tid: Tenant, conn: Conn, audience_id: uuid.UUID, cursor: Cursor = None,
                 limit: Limit = 100) -> AudienceDetail:
    """An audience with its last build, segments, holdout, incrementality, tuning recommendation and syncs, and
    its members best first, by page."""
    from lookalike_assets.pipeline.destinations import audience_syncs

    after = decode_cursor(cursor, (int, float), str, str)
    if after:
        try:
            after[1] = str(uuid.UUID(after[1]))
        except ValueError:
            raise invalid_cursor() from None
    a = audience_of(conn, tid, audience_id)
    # the cursor holds the membership it paged through: rebuilt since (new members, new scores), its position
    # means nothing in the new order
    built = str(membership(a).get("refreshed_at") or "")
    if after and after[2] != built:
        raise ApiError(409, "audience_changed", f"audience {a.name!r} was rebuilt since the first page: start "
                       "again without a cursor", "cursor")
    with tenant_transaction(conn, tid, API_ROLE):
        rows = list(Q.online.members_page(conn, tenant_id=tid, audience_id=a.audience_id,
                                          after_score=after[0] if after else None,
                                          after_id=after[1] if after else None, n=limit + 1))
        segments = [r._asdict() for r in Q.segments.audience_segments(conn, tenant_id=tid,
                                                                      audience_id=a.audience_id)]
    lift = audience_incrementality(conn, tid, API_ROLE)
    recommendation, tuning_note = audience_recommendation(conn, tid, a.audience_id, API_ROLE)
    syncs = audience_syncs(conn, tid, a.audience_id, API_ROLE)
    more = len(rows) > limit
    rows = rows[:limit]
    return AudienceDetail(
        audience_id=str(a.audience_id), name=a.name, description=a.description, status=a.status,
        size_estimate=a.size_estimate, seed_set=a.seed_set, rules=a.rules,
        membership=jsonable_encoder((a.metadata or {}).get("membership", {})),
        segments=jsonable_encoder(segments), segmentation=jsonable_encoder((a.metadata or {}).get("segments", {})),
        holdout=membership(a).get("holdout") or {},
        incrementality=jsonable_encoder(next((x for x in lift or () if x["audience_id"] == a.audience_id), None)),
        recommendation=jsonable_encoder(recommendation), recommendation_note=tuning_note,
        syncs=jsonable_encoder(syncs),
        members=[Member(candidate_id=str(r.candidate_id), lead_id=str(r.lead_id), external_id=r.external_id,
                        similarity_score=r.similarity_score, rank_score=r.rank_score, decile=r.decile,
                        reasons=r.reasons, segment_no=r.segment_no, arm=r.arm) for r in rows],
        next_cursor=encode_cursor([rows[-1].score, str(rows[-1].candidate_id), built]) if more else None)


@router.patch(AUDIENCE)
def edit_audience(tid: Tenant, conn: Conn, audience_id: uuid.UUID, body: AudienceEdit) -> AudienceCreated:
    """Change an audience's name, description, seed set or rules, validated like a new one; the tenant's next
    run rebuilds it (the returned job follows it)."""
    a = audience_of(conn, tid, audience_id)

    def edit() -> uuid.UUID:
        admin_ops.edit_audience(conn, tid, str(a.audience_id), name=body.name, seed_set=body.seed_set,
                                rules=given_rules(body), description=body.description)
        return a.audience_id

    _aid, job_id = audience_job(conn, tid, edit)
    return AudienceCreated(audience_id=str(a.audience_id), size_estimate=a.size_estimate, job_id=str(job_id))


@router.delete(AUDIENCE, status_code=204)
def delete_audience(tid: Tenant, conn: Conn, audience_id: uuid.UUID) -> None:
    """Delete an audience with its pool, members, export log, attributed facts and export files."""
    from lookalike_assets.settings import get_settings

    a = audience_of(conn, tid, audience_id)
    admin_ops.delete_audience(conn, tid, str(a.audience_id), get_settings().exports_dir)


def _set_status(conn: psycopg.Connection, tid: uuid.UUID, audience_id: uuid.UUID, status: str) -> StatusChange:
    a = audience_of(conn, tid, audience_id)
    changed = admin_ops.set_status(conn, tid, str(a.audience_id), status)
    return StatusChange(audience_id=str(a.audience_id), status=status, changed=changed)


@router.post(AUDIENCE + "/publish")
def publish(tid: Tenant, conn: Conn, audience_id: uuid.UUID) -> StatusChange:
    """Publish: its members are exported and synced to its destinations from now on."""
    return _set_status(conn, tid, audience_id, "published")


@router.post(AUDIENCE + "/retire")
def retire(tid: Tenant, conn: Conn, audience_id: uuid.UUID) -> StatusChange:
    """Retire: no longer rebuilt, exported or synced."""
    return _set_status(conn, tid, audience_id, "retired")


@router.post(AUDIENCE + "/feedback", status_code=202)
def feedback(tid: Tenant, conn: Conn, audience_id: uuid.UUID, body: FeedbackIn) -> FeedbackRecorded:
    """An outcome of one of the audience's members (a reply, a meeting, a deal): what the ranking learns from.
    A retry with the same ``event_id`` is counted once."""
    from lookalike_assets.pipeline.conversions import record_conversions

    a = audience_of(conn, tid, audience_id)
    with tenant_transaction(conn, tid, API_ROLE):
        cand = Q.online.candidate_lead(conn, tenant_id=tid, audience_id=a.audience_id, candidate_id=body.candidate_id)
        # a retry without occurred_at is the same event: it keeps the time of its first receipt
        seen = Q.online.event_time(conn, tenant_id=tid, event_id=body.event_id)
    if cand is None:
        raise ApiError(404, "not_found", f"no candidate {body.candidate_id} in this audience", "candidate_id")
    event = {"event_id": body.event_id, "lead_id": str(cand.lead_id), "event_type": body.event_type,
             "value": body.value, "metadata": body.metadata or {},
             "occurred_at": (body.occurred_at or (seen.occurred_at if seen else None)
                             or datetime.now().astimezone()).isoformat(),
             "audience_id": str(a.audience_id), "candidate_id": str(body.candidate_id)}
    report = record_conversions(conn, tid, [event], source="api")
    if report.quarantined:
        raise ApiError(400, "invalid_event", "; ".join(reason for _eid, reason in report.quarantined), "event_type")
    return FeedbackRecorded(recorded=report.inserted, duplicates=report.duplicates)


@router.post(AUDIENCE + "/export", status_code=202)
def export(tid: Tenant, conn: Conn, audience_id: uuid.UUID, body: ExportIn) -> ExportCreated:
    """Export a published audience to a platform's upload format, whatever its destinations say: a job the
    export sensor runs (poll it at .../jobs/{export_job_id})."""
    a = audience_of(conn, tid, audience_id)
    try:
        job_id = admin_ops.request_export(conn, tid, str(a.audience_id), body.platform, API_ROLE)
    except admin_ops.NotPublished as exc:
        raise ApiError(409, "not_published", str(exc)) from None
    except admin_ops.TooSmallForPlatform as exc:
        raise ApiError(409, "too_small", str(exc)) from None
    return ExportCreated(export_job_id=str(job_id))


@router.get(AUDIENCE + "/performance")
def performance(tid: Tenant, conn: Conn, audience_id: uuid.UUID) -> Performance:
    """The audience's figures from the marts (as of their last build): size, conversions and rates against
    the tenant's base rate, the last export, conversion by similarity decile (10 = the best tenth), and for an
    audience with a holdout its incrementality (treatment against control, lift with its 95 % interval)."""
    a = audience_of(conn, tid, audience_id)
    try:
        with tenant_transaction(conn, tid, API_ROLE):
            summary = Q.online.audience_summary(conn, tenant_id=tid, audience_id=a.audience_id)
            buckets = list(Q.online.audience_deciles_performance(conn, tenant_id=tid, audience_id=a.audience_id))
    except psycopg.errors.UndefinedTable:
        summary = None
    lift = audience_incrementality(conn, tid, API_ROLE)
    if summary is None:
        raise ApiError(409, "not_ready", f"the marts have no figures for audience {a.name!r} yet: they are "
                       "rebuilt hourly (or by `lookalike marts`)")
    return Performance(
        audience_id=str(a.audience_id), name=a.name, metrics=jsonable_encoder(plain_numbers(summary._asdict())),
        by_similarity_bucket=[jsonable_encoder(plain_numbers(b._asdict())) for b in buckets],
        holdout=membership(a).get("holdout") or {},
        incrementality=jsonable_encoder(plain_numbers(next((x for x in lift or ()
                                                            if x["audience_id"] == a.audience_id), None))))
