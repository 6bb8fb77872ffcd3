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
from lookalike_assets.domain.ranking import factor_words, readable
from lookalike_assets.domain.rules import compile_filters, parse_rules
from lookalike_assets.pipeline.admin import audience_report
from lookalike_assets.pipeline.memberships import attribute_types

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


CANDIDATE_FIELDS = ("similarity_score", "rank_score", "decile")


@dataclass
class ReachEstimate:
    eligible: int
    matching: int  # leads the filters let through (estimated from a sample)
    size: int  # what the reach cap then leaves, before seeds, exclusions and suppression
    sample: int
    conversion_rate: float | None  # expected, from the tenant's own audiences' outcomes at this share of leads
    notes: list[str] = field(default_factory=list)


def reach_estimate(conn: psycopg.Connection, tenant_id: uuid.UUID, rules_raw: dict | None, role: str = APP_ROLE,
                   sample: int = 5000) -> ReachEstimate:
    """How big draft ``rules`` would make an audience: the share of a fixed sample of the tenant's embedded leads
    that passes their filters, times the eligible leads, capped by their reach; and the conversion rate the
    tenant's audiences had at that share of its leads (best first), when the marts have outcomes. Rules are
    validated as anywhere else (a RuleError names what is wrong)."""
    with tenant_transaction(conn, tenant_id, role):
        attrs = attribute_types(conn, tenant_id)
        rules = parse_rules(rules_raw or {}, attrs)
        eligible = Q.studio.eligible(conn, tenant_id=tenant_id)
        rows = [r._asdict() for r in Q.studio.lead_sample(conn, tenant_id=tenant_id, n=sample)]
    notes = []
    filters = [f for f in compile_filters(rules, attrs) if f.field not in CANDIDATE_FIELDS]
    if len(filters) < len(rules.filters):
        notes.append("filters on scores and deciles apply once the audience is built: not counted here")
    passed = sum(all(f.matches(r) for f in filters) for r in rows)
    matching = round(eligible * passed / len(rows)) if rows else 0
    size = min(matching, rules.reach.cap(eligible)) if rules.reach else matching
    rate = None
    curves = _marts(conn, tenant_id, role, Q.studio.pooled_reach)
    if curves and eligible and size:
        rate = _rate_at(curves, size / eligible, eligible)
    return ReachEstimate(eligible, matching, size, len(rows), rate, notes)


def _rate_at(curves: list[dict], share: float, eligible: int) -> float | None:
    """The mean over the tenant's audiences of the conversion rate each reached at ``share`` of the tenant's
    leads (its curve's nearest point at or below that size; audiences whose curve starts above it are left out)."""
    by: dict[Any, list[dict]] = {}
    for r in curves:
        by.setdefault(r["audience_id"], []).append(r)
    rates = []
    for points in by.values():
        below = [p for p in points if p["audience_size"] <= share * eligible and p["conversion_rate"] is not None]
        if below:
            rates.append(float(below[-1]["conversion_rate"]))
    return sum(rates) / len(rates) if rates else None


def seed_labels(conn: psycopg.Connection, tenant_id: uuid.UUID, role: str = APP_ROLE) -> list[tuple[str, int]]:
    with tenant_transaction(conn, tenant_id, role):
        return [(r.label, r.n) for r in Q.studio.seed_labels(conn, tenant_id=tenant_id)]


@dataclass
class Performance:
    built: bool  # the marts exist
    base_rate: float | None
    audiences: list[dict]
    deciles: dict[Any, list[dict]]


def performance(conn: psycopg.Connection, tenant_id: uuid.UUID, role: str = APP_ROLE) -> Performance:
    """The tenant's report as the studio shows it: each audience's outcomes and its conversion by decile, from the
    marts as of their last build."""
    summary = _marts(conn, tenant_id, role, Q.studio.performance_summary)
    if summary is None:
        return Performance(False, None, [], {})
    deciles: dict[Any, list[dict]] = {}
    for r in _marts(conn, tenant_id, role, Q.studio.performance_deciles) or []:
        deciles.setdefault(r["audience_id"], []).append(r)
    base = next((float(r["tenant_base_rate"]) for r in summary if r["tenant_base_rate"] is not None), None)
    return Performance(True, base, summary, deciles)


# -- what the ranking model weighs, in words -------------------------------------------------------------------
def influential_factors(report: dict, n: int = 8) -> list[tuple[str, float]]:
    """What the tenant's ranking model weighs most when it orders candidates, as (words, share of its gain)."""
    from lookalike_assets.domain.ranking import top_factors

    ranking = report.get("ranking") or {}
    importances = (ranking.get("metrics") or {}).get("importances") or {}
    return [(factor_words(k), v) for k, v in top_factors(importances, n) if v > 0]


# -- leads ----------------------------------------------------------------------------------------------------
def _like(q: str) -> str:
    return "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def find_leads(conn: psycopg.Connection, tenant_id: uuid.UUID, q: str, role: str = APP_ROLE,
               n: int = 50) -> list[dict]:
    """The tenant's leads whose CRM id is ``q``, or whose name, company, title or email contains it."""
    q = (q or "").strip()[:200]
    if not q:
        return []
    with tenant_transaction(conn, tenant_id, role):
        return [r._asdict() for r in Q.studio.find_leads(conn, tenant_id=tenant_id, q=q, pattern=_like(q), n=n)]


@dataclass
class LeadCard:
    lead: dict
    similar: list[dict]
    note: str | None = None


def lead_card(conn: psycopg.Connection, tenant_id: uuid.UUID, lead_id: uuid.UUID, role: str = APP_ROLE,
              k: int = 20) -> LeadCard | None:
    """One lead with its k most similar leads (each with its name, score and the parts of its similarity), or
    None when the tenant has no such lead."""
    from lookalike_assets.pipeline.online import OnlineError, similar_leads

    with tenant_transaction(conn, tenant_id, role):
        row = Q.studio.lead_card(conn, tenant_id=tenant_id, lead_id=lead_id)
    if row is None:
        return None
    lead = row._asdict()
    try:
        found = similar_leads(conn, tenant_id, str(lead_id), k)
    except OnlineError as exc:
        return LeadCard(lead, [], str(exc).replace(f"lead {str(lead_id)!r}", "this lead"))
    with tenant_transaction(conn, tenant_id, role):
        names = {str(r.lead_id): r._asdict() for r in Q.studio.lead_names(
            conn, tenant_id=tenant_id, ids=[n.lead_id for n in found])}
    similar = [{**names.get(n.lead_id, {"external_id": n.external_id}), "lead_id": n.lead_id,
                "score": n.similarity_score, "why": why_parts(n.reasons)} for n in found]
    return LeadCard(lead, similar)


def audience_names(conn: psycopg.Connection, tenant_id: uuid.UUID, role: str = APP_ROLE) -> dict[uuid.UUID, str]:
    """The tenant's audiences by id, their names only (no figures: nothing from the marts)."""
    with tenant_transaction(conn, tenant_id, role):
        return {r.audience_id: r.name for r in Q.studio.audience_names(conn, tenant_id=tenant_id)}


def seed_choices(conn: psycopg.Connection, tenant_id: uuid.UUID, role: str = APP_ROLE, n: int = 500) -> list[dict]:
    with tenant_transaction(conn, tenant_id, role):
        return [r._asdict() for r in Q.studio.seed_choices(conn, tenant_id=tenant_id, n=n)]


def suppressed_count(conn: psycopg.Connection, tenant_id: uuid.UUID, role: str = APP_ROLE) -> int:
    with tenant_transaction(conn, tenant_id, role):
        return Q.studio.suppressed_count(conn, tenant_id=tenant_id)
