"""seed_profiles and candidate_pools of one tenant.

The search is exact over the tenant's own vectors, streamed from PostgreSQL by binary COPY inside a tenant
transaction (Row-Level Security + an explicit tenant filter): it never reads another tenant's vectors, and it
returns N candidates whenever the tenant has N eligible leads, which an HNSW scan with filters does not
guarantee. Each audience's pool is replaced in one transaction.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field

import numpy as np
import psycopg

from lookalike_assets.db.connect import PIPELINE_ROLE, tenant_transaction
from lookalike_assets.db.queries import Q
from lookalike_assets.db.vector_copy import iter_id_vector, to_numpy, uuid_of
from lookalike_assets.domain.audience import (
    AudienceDefinitionError,
    AudienceMetadata,
    SeedRow,
    parse_seed_set,
    select_seeds,
)
from lookalike_assets.domain.similarity import TopN, reasons_from_parts, weighted_centroid
from lookalike_assets.domain.vectors import DIM
from lookalike_assets.pipeline.common import Timer, log
from lookalike_assets.pipeline.features import load_spec


@dataclass
class ProfileResult:
    audience_id: uuid.UUID
    name: str
    status: str  # "built", "unchanged", "skipped"
    seed_count: int = 0
    reason: str | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class PoolResult:
    audience_id: uuid.UUID
    name: str
    requested: int
    eligible: int
    candidates: int
    inserted: int
    updated: int
    removed: int
    top_score: float | None
    decile_floor: dict[int, float]
    status: str = "built"  # "built", or "kept": too few seeds now, the last pool stays as it was


def refresh_seed_profiles(
    conn: psycopg.Connection, tenant_id: uuid.UUID, model_version: str, min_seeds: int = 3, warn_seeds: int = 20
) -> list[ProfileResult]:
    """Weighted centroid of each audience's live, embedded seeds. An audience with too few seeds keeps its
    previous profile (and so its pool) and is reported as skipped with the reason."""
    out: list[ProfileResult] = []
    with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
        audiences = list(Q.active_audiences(conn, tenant_id=tenant_id))
        seeds = list(Q.seed_vectors(conn, tenant_id=tenant_id))
        live = [SeedRow(seed_id=r[0], lead_id=r[1], label=r[2], weight=r[3], embedded=r[4] is not None) for r in seeds]
        vec_by_seed = {r[0]: r[4] for r in seeds if r[4] is not None}
        for audience_id, name, seed_set_raw, _rules, _meta, _status in audiences:
            try:
                seed_set = parse_seed_set(seed_set_raw)
            except AudienceDefinitionError as exc:
                out.append(ProfileResult(audience_id, name, "skipped", reason=str(exc)))
                continue
            sel = select_seeds(seed_set, live)
            res = ProfileResult(audience_id, name, "built", seed_count=len(sel.seeds))
            if sel.unknown_seed_ids:
                res.warnings.append(f"{len(sel.unknown_seed_ids)} seed id(s) in seed_set are not live seeds of this "
                                    f"tenant and were ignored: {', '.join(map(str, sel.unknown_seed_ids[:5]))}")
            if sel.not_embedded:
                res.warnings.append(f"{len(sel.not_embedded)} seed(s) have no embedding yet and were left out")
            if len(sel.seeds) < min_seeds:
                res.status = "skipped"
                res.reason = (f"{len(sel.seeds)} usable seed(s), fewer than the minimum of {min_seeds}: "
                              "the previous profile and pool are kept")
                out.append(res)
                continue
            if len(sel.seeds) < warn_seeds:
                res.warnings.append(f"only {len(sel.seeds)} seeds: the profile may be noisy (>= {warn_seeds} advised)")
            vecs = np.stack([to_numpy(vec_by_seed[s.seed_id]) for s in sel.seeds])
            profile = weighted_centroid(vecs, sel.weights)
            changed = Q.upsert_profile(
                conn, tenant_id=tenant_id, audience_id=audience_id, profile=profile, seed_count=len(sel.seeds),
                weight_total=float(sum(sel.weights)), seed_hash=sel.digest, model_version=model_version,
            )
            if not changed:
                res.status = "unchanged"
            out.append(res)
    for r in out:
        for w in r.warnings:
            log.info("audience %s: %s", r.name, w)
        if r.reason:
            log.info("audience %s skipped: %s", r.name, r.reason)
    return out


def stream_vectors(conn: psycopg.Connection, tenant_id: uuid.UUID, batch: int, raw_ids: bool = False):
    """Batches of (lead ids, vectors) of the current tenant (call inside its tenant transaction). With
    ``raw_ids`` the ids are a numpy ``S16`` array (cheap); otherwise UUIDs."""
    with conn.cursor() as cur, cur.copy(Q.copy_tenant_vectors.sql, {"tenant_id": tenant_id}) as copy:
        for ids, vecs in iter_id_vector(copy, DIM, batch):
            yield (ids if raw_ids else [uuid_of(b) for b in ids]), vecs


def refresh_candidate_pools(
    conn: psycopg.Connection, tenant_id: uuid.UUID, default_pool_size: int = 2000, stream_batch: int = 20000,
    min_seeds: int = 3, timings: dict | None = None,
) -> list[PoolResult]:
    """``timings``, when given, receives seconds spent reading vectors, scoring, and writing pools."""
    t = Timer()
    clock = {"read": 0.0, "score": 0.0, "write": 0.0}
    with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
        spec = load_spec(conn, tenant_id)
        profiles = list(Q.profiles(conn, tenant_id=tenant_id))
        if not profiles:
            return []
        live = [SeedRow(*r) for r in Q.live_seeds(conn, tenant_id=tenant_id)]
        suppressed = {r[0] for r in Q.suppressed_lead_ids(conn, tenant_id=tenant_id)}
        audiences = {r[0]: r for r in Q.active_audiences(conn, tenant_id=tenant_id)}
        excludes, sizes, kept = [], [], []
        for audience_id, name, _profile, _n, _mv, meta in list(profiles):
            sel = select_seeds(parse_seed_set(audiences[audience_id][2]), live)
            if len(sel.seeds) < min_seeds:
                # The seed set fell below the minimum since the profile was built: keep the last pool.
                profiles.remove(next(p for p in profiles if p[0] == audience_id))
                kept.append(PoolResult(audience_id, name, 0, 0, 0, 0, 0, 0, None, {}, status="kept"))
                continue
            excludes.append({s.lead_id.bytes for s in sel.seeds} | {x.bytes for x in suppressed})
            sizes.append(AudienceMetadata.model_validate(meta or {}).pool_size or default_pool_size)
        if not profiles:
            return kept
        mat = np.stack([to_numpy(p[2]) for p in profiles])
        top = TopN(mat, n=max(sizes), exclude=excludes, layout=spec.layout)
        scanned = 0
        mark = time.perf_counter()
        for ids, vecs in stream_vectors(conn, tenant_id, stream_batch, raw_ids=True):
            now = time.perf_counter()
            clock["read"] += now - mark
            top.add(ids, vecs)
            mark = time.perf_counter()
            clock["score"] += mark - now
            scanned += len(ids)
    log.info("scored %d vectors against %d profiles in %.2fs", scanned, len(profiles), t.seconds)

    results: list[PoolResult] = list(kept)
    write_started = time.perf_counter()
    for a, (audience_id, name, _p, _n, _mv, _meta) in enumerate(profiles):
        ids, scores, parts = top.result(a)
        n = sizes[a]
        ids, scores = [uuid_of(b) for b in ids[:n]], scores[:n]
        why = reasons_from_parts(parts[:n], top.block_names)
        with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
            Q.create_pool_stage(conn)
            with conn.cursor() as cur, cur.copy(Q.copy_pool_stage.sql) as copy:
                for lead_id, s, r in zip(ids, scores, why):
                    copy.write_row((lead_id, float(s), json.dumps(r)))
            ins, upd, rem = Q.merge_pool_stage(conn, tenant_id=tenant_id, audience_id=audience_id)
        floors = {}
        if len(scores):
            from lookalike_assets.domain.similarity import ntile_desc

            dec = ntile_desc(len(scores))
            floors = {int(d): round(float(scores[dec == d].min()), 4) for d in range(10, 0, -1) if (dec == d).any()}
        results.append(PoolResult(
            audience_id=audience_id, name=name, requested=n, eligible=int(top.eligible[a]), candidates=len(ids),
            inserted=ins, updated=upd, removed=rem, top_score=float(scores[0]) if len(scores) else None,
            decile_floor=floors,
        ))
    clock["write"] = time.perf_counter() - write_started
    if timings is not None:
        timings.update(clock)
    if sum(r.inserted + r.removed for r in results) > 20000:
        Q.analyze_table(conn, table="lookalike_candidate")  # a large rewrite: fresh planner statistics for what joins candidates
    return results
