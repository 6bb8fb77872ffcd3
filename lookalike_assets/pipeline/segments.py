"""audience_segments: split each published audience into balanced segments (``domain/segments.py``), store them
with their profiles and members, one transaction per audience; audiences no longer published lose theirs. An
audience whose members, vectors, settings and tenant size did not change keeps its segments untouched."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import dataclass, field

import numpy as np
import psycopg
from psycopg.types.json import Jsonb

from lookalike_assets.db.connect import PIPELINE_ROLE, tenant_transaction
from lookalike_assets.db.queries import Q
from lookalike_assets.domain.rules import RuleError, parse_rules
from lookalike_assets.domain.segments import SegmentError, SegmentProfile, distinct_segments, segment_bounds
from lookalike_assets.faults import fault_point
from lookalike_assets.pipeline.common import log
from lookalike_assets.pipeline.features import load_spec
from lookalike_assets.pipeline.memberships import attribute_types
from lookalike_assets.pipeline.online import as_array

MEMBER_COLUMNS = ("candidate_id", "lead_id", "similarity_score", "rank_score", "embedding", "industry", "country",
                  "region", "title", "seniority", "property_type", "company_size", "email_opens", "web_visits",
                  "attributes")
CATEGORICAL = ("industry", "country", "region", "title", "seniority", "property_type")
NUMERIC = ("company_size", "email_opens", "web_visits")


@dataclass
class SegmentResult:
    audience_id: uuid.UUID
    name: str
    status: str  # built, unchanged, skipped (with reason), cleared (no longer published), off
    members: int = 0
    k: int = 0
    bounds: str | None = None
    lo: int = 0
    hi: int = 0
    scores: dict[int, float] = field(default_factory=dict)
    reason: str | None = None
    segments: list[SegmentProfile] = field(default_factory=list)
    seconds: float = 0.0


def refresh_segments(conn: psycopg.Connection, tenant_id: uuid.UUID) -> list[SegmentResult]:
    with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
        audiences = list(Q.segments.segment_audiences(conn, tenant_id=tenant_id))
        scored = Q.memberships.eligible_lead_count(conn, tenant_id=tenant_id)
        attrs = attribute_types(conn, tenant_id)
        spec = load_spec(conn, tenant_id)
    # free text (notes) never names a segment: only values shared by many
    free_text = {c.name for b in (spec.blocks if spec else []) for c in b.columns if c.kind == "text"}
    categorical = [*CATEGORICAL, *(f"attributes.{a}" for a, t in sorted(attrs.items())
                                   if t == "text" and a not in free_text)]
    numeric = [*NUMERIC, *(f"attributes.{a}" for a, t in sorted(attrs.items()) if t == "number")]
    out = []
    for a in audiences:
        res = SegmentResult(a.audience_id, a.name, "skipped")
        out.append(res)
        t0 = time.perf_counter()
        if a.status != "published":
            with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
                Q.segments.delete_segments(conn, tenant_id=tenant_id, audience_id=a.audience_id)
            res.status = "cleared"
            continue
        try:
            cfg = parse_rules(a.rules, attrs).segments
        except RuleError as exc:
            res.reason = f"invalid rules: {exc}"
            continue
        if not cfg.enabled:
            with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
                Q.segments.delete_segments(conn, tenant_id=tenant_id, audience_id=a.audience_id)
            res.status, res.reason = "off", "segments are turned off in its rules"
            continue
        with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
            fingerprint = Q.segments.member_fingerprint(conn, tenant_id=tenant_id, audience_id=a.audience_id)
        input_hash = hashlib.sha256(json.dumps([fingerprint, cfg.model_dump(), scored, categorical, numeric],
                                               sort_keys=True).encode()).hexdigest()[:16]
        if input_hash == a.input_hash:
            res.status = "unchanged"
            continue
        with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
            rows = [dict(zip(MEMBER_COLUMNS, r)) for r in Q.segments.segment_members(conn, tenant_id=tenant_id,
                                                                                    audience_id=a.audience_id)]
        res.members = len(rows)
        info = {"input_hash": input_hash, "members": len(rows), "scored_leads": scored,
                "refreshed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        try:
            bounds = segment_bounds(len(rows), scored, cfg)
        except SegmentError as exc:
            res.reason = str(exc)
            with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
                Q.segments.delete_segments(conn, tenant_id=tenant_id, audience_id=a.audience_id)
                Q.segments.record_segments(conn, tenant_id=tenant_id, audience_id=a.audience_id,
                                           info=json.dumps({**info, "k": 0, "skipped": res.reason}))
            continue
        x = np.stack([as_array(r["embedding"]) for r in rows]).astype(np.float64)
        split, profiles = distinct_segments(x, rows, bounds, categorical, numeric)
        if split is None:
            res.reason = ("the members do not differ enough to split: no number of segments within the bounds gives "
                          "each a trait of its own (a segment that is not distinct is not worth its own creative)")
            with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
                Q.segments.delete_segments(conn, tenant_id=tenant_id, audience_id=a.audience_id)
                Q.segments.record_segments(conn, tenant_id=tenant_id, audience_id=a.audience_id,
                                           info=json.dumps({**info, "k": 0, "skipped": res.reason}))
            continue
        res.k, res.bounds, res.scores, res.segments = split.k, bounds.describe(), split.scores, profiles
        res.lo, res.hi = bounds.lo, bounds.hi
        info.update({"k": split.k, "bounds": {"lo": bounds.lo, "hi": bounds.hi, "basis": bounds.basis},
                     "cohesion": {str(k): v for k, v in split.scores.items()}, "skipped": None})
        # one transaction: readers see the old segments or the new ones
        with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
            Q.segments.delete_segments(conn, tenant_id=tenant_id, audience_id=a.audience_id)
            for p in profiles:
                Q.segments.insert_segment(conn, tenant_id=tenant_id, audience_id=a.audience_id,
                                          segment_no=p.segment_no, name=p.name, size=p.size, share=p.share,
                                          mean_similarity=p.mean_similarity, mean_rank_score=p.mean_rank_score,
                                          traits=Jsonb(p.traits), profile=Jsonb(p.profile))
            fault_point("segments:after-segment-rows")
            Q.segments.insert_segment_members(conn, [
                {"tenant_id": tenant_id, "audience_id": a.audience_id, "candidate_id": cid, "segment_no": p.segment_no}
                for p in profiles for cid in p.members])
            Q.segments.record_segments(conn, tenant_id=tenant_id, audience_id=a.audience_id, info=json.dumps(info))
        res.status = "built"
        res.seconds = round(time.perf_counter() - t0, 3)
        log.info("audience %s: %d segments of %d members (%s) in %.1fs", a.name, split.k, len(rows),
                 ", ".join(str(p.size) for p in profiles), res.seconds)
    return out
