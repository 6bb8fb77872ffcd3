"""What the studio shows of one tenant, read inside the tenant's transaction on the caller's service login (the
API's, for the web app). Plain data: the web layer renders it, nothing here knows of HTTP.

Figures from the marts are as of their last build; before the first build (or on a database without the marts)
they are absent, and the pages say so rather than fail.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg

from lookalike_assets.db.connect import APP_ROLE, tenant_transaction
from lookalike_assets.db.queries import Q
from lookalike_assets.pipeline.admin import audience_report

MEMBER_SORTS = ("score", "name", "company", "title", "decile")


@dataclass
class AudienceRow:
    audience_id: uuid.UUID
    name: str
    description: str | None
    status: str
    size: int | None
    seeds: int | None
    refreshed_at: datetime | None
    skipped: str | None
    exports: list[dict]
    top_decile_rate: float | None = None
    lift: dict | None = None


def _marts(conn: psycopg.Connection, tenant_id: uuid.UUID, role: str, query, **params) -> list | None:
    """Rows of a query over the marts, or None when they were never built."""
    try:
        with tenant_transaction(conn, tenant_id, role):
            return [r._asdict() for r in query(conn, tenant_id=tenant_id, **params)]
    except (psycopg.errors.UndefinedTable, psycopg.errors.InsufficientPrivilege):
        return None


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def audiences(conn: psycopg.Connection, tenant_id: uuid.UUID, role: str = APP_ROLE, *, q: str | None = None,
              status: str | None = None) -> list[AudienceRow]:
    """The tenant's audiences, by name, with the figures a marketer judges them by; ``q`` filters by words of the
    name or description, ``status`` by status."""
    with tenant_transaction(conn, tenant_id, role):
        rows = list(Q.studio.audiences(conn, tenant_id=tenant_id))
    top = {r["audience_id"]: float(r["conversion_rate"]) for r in _marts(conn, tenant_id, role,
                                                                         Q.studio.top_decile_rates) or []
           if r["conversion_rate"] is not None}
    lifts = {r["audience_id"]: r for r in _marts(conn, tenant_id, role, Q.studio.holdout_lifts) or []}
    out = []
    words = (q or "").lower().split()
    for r in rows:
        text = f"{r.name} {r.description or ''}".lower()
        if words and not all(w in text for w in words):
            continue
        if status and r.status != status:
            continue
        out.append(AudienceRow(r.audience_id, r.name, r.description, r.status, r.size_estimate, r.seed_count,
                               _when(r.refreshed_at), r.skipped, list(r.exports or []), top.get(r.audience_id),
                               lifts.get(r.audience_id)))
    return out


@dataclass
class MembersPage:
    total: int
    rows: list[dict]
    page: int
    pages: int
    sort: str


def members(conn: psycopg.Connection, tenant_id: uuid.UUID, audience_id: uuid.UUID, role: str = APP_ROLE, *,
            sort: str = "score", page: int = 1, per_page: int = 50) -> MembersPage:
    """One page of the audience's members, with each one's score as a percentile of the audience (100 = best)
    and "why similar" as its parts, largest first."""
    if sort not in MEMBER_SORTS:
        raise ValueError(f"sort by one of {', '.join(MEMBER_SORTS)}")
    with tenant_transaction(conn, tenant_id, role):
        total = Q.studio.member_count(conn, tenant_id=tenant_id, audience_id=audience_id)
        pages = max(1, -(-total // per_page))
        page = min(max(1, page), pages)
        rows = [r._asdict() for r in Q.studio.members(conn, tenant_id=tenant_id, audience_id=audience_id, sort=sort,
                                                       n=per_page, skip=(page - 1) * per_page)]
    for r in rows:
        r["percentile"] = round(100 * float(r["percentile"] or 0))
        r["why"] = why_parts(r["reasons"])
    return MembersPage(total, rows, page, pages, sort)


def why_parts(reasons: Any, top: int = 4) -> list[tuple[str, float]]:
    """The largest positive parts of a member's similarity, as (readable name, share of the positive total)."""
    parts = {}
    if isinstance(reasons, dict):
        parts = reasons.get("parts") if isinstance(reasons.get("parts"), dict) else reasons
    elif isinstance(reasons, list):
        parts = {str(x.get("block") or x.get("name")): x.get("contribution") or x.get("value")
                 for x in reasons if isinstance(x, dict)}
    pos = {k: float(v) for k, v in parts.items() if isinstance(v, (int, float)) and v > 0}
    total = sum(pos.values())
    if not total:
        return []
    return [(readable(k), v / total) for k, v in sorted(pos.items(), key=lambda kv: -kv[1])[:top]]


def readable(name: str) -> str:
    """A field or block name as words: ``company_size`` -> "company size", ``attributes.plan`` -> "plan"."""
    name = str(name).removeprefix("attributes.").removeprefix("text:")
    return {"text": "words (bio, title, notes)", "bio": "words (bio, title, notes)"}.get(name, name.replace("_", " "))


@dataclass
class AudienceDetail:
    report: dict
    reach: list[dict] | None
    deciles: list[dict] | None
    exports: list[dict] = field(default_factory=list)
    overlap: list[tuple[str, Any]] = field(default_factory=list)


def audience_detail(conn: psycopg.Connection, tenant_id: uuid.UUID, audience_id: uuid.UUID,
                    role: str = APP_ROLE) -> AudienceDetail:
    report = audience_report(conn, tenant_id, str(audience_id), top=0)
    reach = _marts(conn, tenant_id, role, Q.studio.reach_curve, audience_id=audience_id)
    deciles = _marts(conn, tenant_id, role, Q.studio.deciles, audience_id=audience_id)
    with tenant_transaction(conn, tenant_id, role):
        exports = [r._asdict() for r in Q.studio.export_history(conn, tenant_id=tenant_id, audience_id=audience_id)]
        names = {str(r.audience_id): r.name for r in Q.studio.audience_names(conn, tenant_id=tenant_id)}
    overlap = [(names.get(str(k), str(k)), v) for k, v in ((report.get("membership") or {}).get("overlap") or {}).items()]
    return AudienceDetail(report, reach, deciles, exports, overlap)
