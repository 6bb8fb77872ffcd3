"""Tuning recommendations for a tenant's audiences from the marts (``domain/tuning.py`` decides), and their
application to the audiences that ask for it (``rules.auto_tune``), each change logged with before and after."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from dataclasses import dataclass

import psycopg

from lookalike_assets.db.connect import PIPELINE_ROLE, tenant_transaction
from lookalike_assets.db.queries import Q
from lookalike_assets.domain.tuning import CurvePoint, Recommendation, TuningError, parse_economics, recommend
from lookalike_assets.pipeline.common import log
from lookalike_assets.pipeline.incrementality import audience_incrementality


def recommendations(conn: psycopg.Connection, tenant_id: uuid.UUID, role: str
                    ) -> tuple[dict[uuid.UUID, Recommendation], str | None]:
    """The recommendation of each audience the marts have a curve for, and why there are none when there are none
    (no economics in the tenant's settings, marts not built). Invalid settings raise TuningError."""
    with tenant_transaction(conn, tenant_id, role):
        economics = parse_economics(Q.tuning.tenant_tuning(conn, tenant_id=tenant_id))
    if not economics.configured:
        return {}, ("the tenant has no economics: set them with `lookalike tenants configure --cost-per-contact C "
                    "--value-per-conversion V` (or --target-precision P)")
    try:
        with tenant_transaction(conn, tenant_id, role):
            rows = list(Q.tuning.reach_curves(conn, tenant_id=tenant_id))
    except psycopg.errors.UndefinedTable:
        return {}, "the marts have not been built yet (`lookalike marts`)"
    curves: dict[uuid.UUID, list[CurvePoint]] = defaultdict(list)
    for r in rows:
        curves[r.audience_id].append(CurvePoint(float(r.threshold), int(r.audience_size), int(r.conversions)))
    lift = {x["audience_id"]: x for x in audience_incrementality(conn, tenant_id, role) or []}
    out = {aid: rec for aid, pts in curves.items() if (rec := recommend(pts, economics, lift.get(aid))) is not None}
    return out, None if out else "no audience has outcomes in the marts yet"


def audience_recommendation(conn: psycopg.Connection, tenant_id: uuid.UUID, audience_id: uuid.UUID, role: str
                            ) -> tuple[dict | None, str | None]:
    """One audience's recommendation as a dict, or None and why."""
    try:
        recs, why = recommendations(conn, tenant_id, role)
    except TuningError as exc:
        return None, str(exc)
    rec = recs.get(audience_id)
    return (rec.as_dict(), None) if rec else (None, why or "the marts have no curve for this audience yet")


@dataclass
class TuningChange:
    audience_id: uuid.UUID
    name: str
    before: dict
    after: dict
    reason: str


def apply_auto_tuning(conn: psycopg.Connection, tenant_id: uuid.UUID) -> list[TuningChange]:
    """Set ``rules.reach.max_size`` of every audience with ``rules.auto_tune`` to its recommendation, when it
    differs; one transaction per audience with its log row. Nothing happens without a recommendation."""
    with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
        audiences = list(Q.tuning.auto_tuned_audiences(conn, tenant_id=tenant_id))
    if not audiences:
        return []
    try:
        recs, why = recommendations(conn, tenant_id, PIPELINE_ROLE)
    except TuningError as exc:
        log.warning("auto-tuning skipped: %s", exc)
        return []
    changes = []
    for aid, name, rules in audiences:
        rec = recs.get(aid)
        if rec is None or rec.max_size is None:
            log.info("audience %s: not tuned (%s)", name, why or (rec.reason if rec else "no curve in the marts"))
            continue
        before = dict((rules or {}).get("reach") or {})
        after = {**before, "max_size": rec.max_size}
        if before.get("max_size") == rec.max_size:
            continue
        with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
            Q.tuning.set_audience_reach(conn, tenant_id=tenant_id, audience_id=aid, reach=json.dumps(after))
            Q.tuning.log_tuning(conn, tenant_id=tenant_id, audience_id=aid, before=json.dumps(before),
                                after=json.dumps(after), basis=rec.basis, reason=rec.reason)
        log.info("audience %s tuned: reach %s -> %s (%s)", name, before, after, rec.reason)
        changes.append(TuningChange(aid, name, before, after, rec.reason))
    return changes
