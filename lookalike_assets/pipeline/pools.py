"""seed_profiles and candidate_pools of one tenant.

Two stages. Where the tenant has a ranking model, the pool of an audience is the top N leads by the champion's
score of every embedded lead (``lookalike_lead_score``, written by ranking_model); otherwise it is the top N by
cosine similarity to the audience's seed profile. The similarity search is exact over the tenant's own vectors,
streamed from PostgreSQL by binary COPY inside a tenant transaction (Row-Level Security + an explicit tenant
filter): it never reads another tenant's vectors, and it returns N candidates whenever the tenant has N eligible
leads, which an HNSW scan with filters does not guarantee.

Pools are staged (``lookalike_pool_stage``), not published: the membership step swaps an audience's pool,
members, size and status in one transaction, so a run stopped between the two leaves every audience as it was.
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
from lookalike_assets.domain.similarity import (
    TopN,
    block_contributions,
    ntile_desc,
    reasons_from_parts,
    weighted_centroid,
)
from lookalike_assets.domain.vectors import DIM
from lookalike_assets.faults import fault_point
from lookalike_assets.pipeline.common import Timer, analyze_after_bulk, log
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
    top_score: float | None
    ordered_by: str = "similarity"  # what chose and orders the pool: "ranking" (the champion) or "similarity"
    status: str = "staged"  # "staged" for the membership step, or "kept": too few seeds now, the last pool stays


def refresh_seed_profiles(
    conn: psycopg.Connection, tenant_id: uuid.UUID, model_version: str, min_seeds: int = 3, warn_seeds: int = 20
) -> list[ProfileResult]:
    """Weighted centroid of each audience's live, embedded seeds. An audience with too few seeds keeps its
    previous profile (and so its pool) and is reported as skipped with the reason."""
    out: list[ProfileResult] = []
    with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
        audiences = list(Q.audiences.active_audiences(conn, tenant_id=tenant_id))
        seeds = list(Q.embeddings.seed_vectors(conn, tenant_id=tenant_id))
        live = [SeedRow(seed_id=r.seed_id, lead_id=r.lead_id, label=r.label, weight=r.weight,
                        embedded=r.embedding is not None) for r in seeds]
        vec_by_seed = {r.seed_id: r.embedding for r in seeds if r.embedding is not None}
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
            changed = Q.pools.upsert_profile(
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
    with conn.cursor() as cur, cur.copy(Q.embeddings.copy_tenant_vectors.sql, {"tenant_id": tenant_id}) as copy:
        for ids, vecs in iter_id_vector(copy, DIM, batch):
            yield (ids if raw_ids else [uuid_of(b) for b in ids]), vecs


def _similarity_pools(conn: psycopg.Connection, tenant_id: uuid.UUID, spec, wanted: list, batch: int,
                      clock: dict) -> dict:
    """Exact streaming top-N by similarity for the audiences in ``wanted`` (audience_id, profile, n, exclude):
    audience_id -> (lead ids, similarity, per-block parts, eligible)."""
    top = TopN(np.stack([w[1] for w in wanted]), n=max(w[2] for w in wanted), exclude=[w[3] for w in wanted],
               layout=spec.layout)
    mark = time.perf_counter()
    for ids, vecs in stream_vectors(conn, tenant_id, batch, raw_ids=True):
        now = time.perf_counter()
        clock["read"] += now - mark
        top.add(ids, vecs)
        mark = time.perf_counter()
        clock["score"] += mark - now
    out = {}
    for a, (audience_id, _p, n, _x) in enumerate(wanted):
        ids, scores, parts = top.result(a)
        out[audience_id] = ([uuid_of(b) for b in ids[:n]], scores[:n], parts[:n], int(top.eligible[a]))
    return out


def _ranked_pool(conn: psycopg.Connection, tenant_id: uuid.UUID, spec, profile: np.ndarray, n: int,
                 exclude: set, clock: dict) -> tuple[list, np.ndarray, np.ndarray, np.ndarray, int]:
    """The top ``n`` leads by the champion's score (leaving out ``exclude``), with each one's similarity to the
    audience's profile and its per-block parts: (lead ids, rank scores, similarity, parts, eligible)."""
    mark = time.perf_counter()
    rows = list(Q.pools.top_scored_leads(conn, tenant_id=tenant_id, exclude=sorted(exclude), n=n))
    eligible = Q.pools.scored_lead_count(conn, tenant_id=tenant_id, exclude=sorted(exclude))
    ids = [r[0] for r in rows]
    vectors = {}
    with conn.cursor() as cur, cur.copy(Q.ranking.copy_vectors_of.sql, {"tenant_id": tenant_id, "lead_ids": ids}) as cp:
        for raw, vecs in iter_id_vector(cp, DIM, 20_000):
            vectors.update(zip((uuid_of(b) for b in raw), vecs))
    now = time.perf_counter()
    clock["read"] += now - mark
    ids = [i for i in ids if i in vectors]
    rank = np.array([r.score for r in rows if r.lead_id in vectors], dtype=np.float32)
    mat = np.stack([vectors[i] for i in ids]) if ids else np.zeros((0, DIM), np.float32)
    contrib = block_contributions(mat, profile, spec.layout)
    parts = np.stack(list(contrib.values()), axis=1) if contrib else np.zeros((len(ids), 0), np.float32)
    sims = mat @ profile
    clock["score"] += time.perf_counter() - now
    return ids, rank, sims, parts, eligible


def refresh_candidate_pools(
    conn: psycopg.Connection, tenant_id: uuid.UUID, default_pool_size: int = 2000, stream_batch: int = 20000,
    min_seeds: int = 3, timings: dict | None = None, run_id: str | None = None,
) -> list[PoolResult]:
    """Stage each audience's next pool in ``lookalike_pool_stage``: the top N leads by the champion's score where
    the tenant has a ranking model (and the audience does not ask for similarity), else the top N by similarity
    to its seed profile; similarity, the per-block reasons and the decile (over the order the audience is cut
    by) for each. Published audiences are untouched: the membership step swaps pools and members in together.

    ``timings``, when given, receives seconds spent reading vectors, scoring, and writing the stage."""
    t = Timer()
    clock = {"read": 0.0, "score": 0.0, "write": 0.0}
    staged: dict[uuid.UUID, tuple] = {}
    results: list[PoolResult] = []
    with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
        spec = load_spec(conn, tenant_id)
        profiles = list(Q.pools.profiles(conn, tenant_id=tenant_id))
        if not profiles:
            return []
        live = [SeedRow(*r) for r in Q.embeddings.live_seeds(conn, tenant_id=tenant_id)]
        suppressed = {r[0] for r in Q.audiences.suppressed_lead_ids(conn, tenant_id=tenant_id)}
        audiences = {r[0]: r for r in Q.audiences.active_audiences(conn, tenant_id=tenant_id)}
        ranked = Q.pools.scored_lead_count(conn, tenant_id=tenant_id, exclude=[]) > 0
        by_similarity, plan = [], []
        for audience_id, name, profile_raw, _n, _mv, meta_raw in profiles:
            sel = select_seeds(parse_seed_set(audiences[audience_id].seed_set), live)
            if len(sel.seeds) < min_seeds:
                # The seed set fell below the minimum since the profile was built: keep the last pool.
                results.append(PoolResult(audience_id, name, 0, 0, 0, None, status="kept"))
                continue
            meta = AudienceMetadata.model_validate(meta_raw or {})
            n = meta.pool_size or default_pool_size
            exclude = {s.lead_id for s in sel.seeds} | suppressed
            profile = to_numpy(profile_raw)
            by = "ranking" if ranked and meta.pool_by != "similarity" else "similarity"
            plan.append((audience_id, name, n, by))
            if by == "ranking":
                ids, rank, sims, parts, eligible = _ranked_pool(conn, tenant_id, spec, profile, n, exclude, clock)
                staged[audience_id] = (ids, sims, rank, parts, eligible)
            else:
                by_similarity.append((audience_id, profile, n, {x.bytes for x in exclude}))
        if by_similarity:
            for audience_id, (ids, sims, parts, eligible) in _similarity_pools(
                    conn, tenant_id, spec, by_similarity, stream_batch, clock).items():
                staged[audience_id] = (ids, sims, None, parts, eligible)
    log.info("chose %d pool(s) in %.2fs (%d by the ranking model)", len(plan), t.seconds,
             sum(p[3] == "ranking" for p in plan))

    write_started = time.perf_counter()
    names = list(spec.layout.slices()) if spec else []
    for audience_id, name, n, by in plan:
        ids, sims, rank, parts, eligible = staged[audience_id]
        why = reasons_from_parts(parts, names)
        order = rank if rank is not None else sims
        deciles = ntile_desc(len(ids))  # rows are best first by what cuts the audience
        with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
            Q.pools.clear_pool_stage(conn, tenant_id=tenant_id, audience_id=audience_id)
            Q.pools.create_pool_copy(conn)
            with conn.cursor() as cur, cur.copy(Q.pools.copy_pool_copy.sql) as copy:
                for i, lead_id in enumerate(ids):
                    copy.write_row((lead_id, float(sims[i]), None if rank is None else float(rank[i]),
                                    int(deciles[i]), json.dumps(why[i])))
            Q.pools.stage_pool(conn, tenant_id=tenant_id, audience_id=audience_id, run_id=run_id)
        fault_point("pools:after-first-audience")
        results.append(PoolResult(
            audience_id=audience_id, name=name, requested=n, eligible=eligible, candidates=len(ids),
            top_score=float(order[0]) if len(ids) else None, ordered_by=by,
        ))
    clock["write"] = time.perf_counter() - write_started
    if timings is not None:
        timings.update(clock)
    analyze_after_bulk(conn, "lookalike_pool_stage", sum(r.candidates for r in results))
    return results
