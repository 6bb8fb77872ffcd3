"""A tenant's leads: found, upserted, their most similar leads, and a new lead scored before it is stored."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi import Path as PathParam

from lookalike_assets.api.deps import Conn, ServicesDep, Tenant
from lookalike_assets.api.errors import ApiError
from lookalike_assets.api.schemas import LeadFound, LeadsIn, LeadsStored, Rejected, Score, ScoreIn, SimilarLead
from lookalike_assets.db.connect import API_ROLE
from lookalike_assets.domain.files import FileFormatError, Records
from lookalike_assets.pipeline.online import OnlineError, score_lead, similar_leads

router = APIRouter(prefix="/leads", tags=["leads"])


@router.get("")
def find_leads(tid: Tenant, conn: Conn, q: Annotated[str, Query(min_length=1, max_length=200)],
               limit: Annotated[int, Query(ge=1, le=200)] = 50) -> list[LeadFound]:
    """The tenant's leads whose ``external_id`` is ``q``, or whose name, company, title or email contains it
    (what the studio's lead search shows)."""
    from lookalike_assets.pipeline import studio

    rows = studio.find_leads(conn, tid, q, API_ROLE, n=limit)
    return [LeadFound(lead_id=str(r["lead_id"]), external_id=r["external_id"], name=r["person"],
                      company=r["company"], title=r["title"], industry=r["industry"], country=r["country"],
                      is_seed=r["is_seed"]) for r in rows]


@router.post("")
def upsert(tid: Tenant, conn: Conn, body: LeadsIn, dry_run: Annotated[bool, Query()] = False) -> LeadsStored:
    """Insert or update leads by ``external_id``, through the importer (the same inference of what each field
    is, the same validation, one transaction: a batch with a bad lead changes nothing). ``dry_run``: the same
    checks, nothing stored; the answer says what would be inserted or updated, how each field is read and
    which leads would be refused (the studio's upload preview)."""
    from lookalike_assets.pipeline.importer import ImportMapping, LeadImportError, import_leads

    try:
        report = import_leads(conn, tid, Records([lead.model_dump() for lead in body.leads], name="leads"),
                              ImportMapping(id="external_id"), all_or_nothing=True, dry_run=dry_run)
    except (LeadImportError, FileFormatError) as exc:
        raise ApiError(400, "invalid_leads", str(exc), "leads") from None
    if report.rejected and not dry_run:
        raise ApiError(400, "invalid_leads", "; ".join(f"lead {r.row}: {r.reason}" for r in report.rejected[:5])
                       + "; nothing was stored (a batch is stored whole or not at all)", "leads")
    return LeadsStored(dry_run=dry_run, inserted=report.inserted, updated=report.updated,
                       unchanged=report.unchanged, columns=report.columns,
                       rejected=[Rejected(lead=r.row, external_id=r.external_id, reason=r.reason)
                                 for r in report.rejected])


@router.get("/{lead_id}/similar")
def similar(tid: Tenant, conn: Conn, lead_id: Annotated[str, PathParam(min_length=1, max_length=200)],
            k: Annotated[int, Query(ge=1, le=1000)] = 10,
            min_score: Annotated[float | None, Query(ge=-1, le=1)] = None) -> list[SimilarLead]:
    """The tenant's ``k`` leads most like one of its leads (by id or external id), each with the similarity
    broken down by block."""
    try:
        found = similar_leads(conn, tid, lead_id, k, min_score)
    except OnlineError as exc:
        raise ApiError(404 if exc.code == "not_found" else 409, exc.code, str(exc)) from None
    return [SimilarLead(**n.__dict__) for n in found]


@router.post("/score")
def score(tid: Tenant, conn: Conn, svc: ServicesDep, body: ScoreIn) -> Score:
    """Score a lead that is not stored: which audience it looks most like, where the ranking model puts it,
    its nearest leads, and whether it duplicates one of the tenant's (by external id or email)."""
    try:
        return Score(**score_lead(conn, tid, body.attributes, svc.encoder()))
    except OnlineError as exc:
        raise ApiError(409 if exc.code in ("not_ready",) else 400, exc.code, str(exc)) from None
