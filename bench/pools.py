"""Pool building of one tenant through lookalike's real code path, against an in-memory numpy exact search
over the same vectors, in the same run.

    python bench/pools.py --leads 100000 --audiences 20

Last line, JSON: ratio (scoring step alone over numpy exact), ratio_total (the whole step, database read and
write included, over numpy exact), recall (against exact), peak_rss_mb, and the seconds of each part.
"""

from __future__ import annotations

import argparse
import time
import uuid

import numpy as np
from common import bench_database, emit, machine, peak_rss_mb

from lookalike_assets.db import admin
from lookalike_assets.db.connect import APP_ROLE, PIPELINE_ROLE, connect, tenant_transaction
from lookalike_assets.db.queries import Q
from lookalike_assets.domain.features import BlockSpec, ColumnSpec, FeatureSpec
from lookalike_assets.domain.similarity import TopN
from lookalike_assets.domain.vectors import DIM
from lookalike_assets.pipeline.embeddings import write_embeddings
from lookalike_assets.pipeline.features import save_spec
from lookalike_assets.pipeline.leads import upsert_leads
from lookalike_assets.pipeline.pools import refresh_candidate_pools, refresh_seed_profiles, stream_vectors


def clustered_unit_vectors(n: int, rng: np.random.Generator, clusters: int = 64) -> np.ndarray:
    centers = rng.standard_normal((clusters, DIM)).astype(np.float32)
    v = centers[rng.integers(0, clusters, n)] + 0.9 * rng.standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--leads", type=int, default=100_000)
    ap.add_argument("--audiences", type=int, default=20)
    ap.add_argument("--pool-size", type=int, default=2000)
    ap.add_argument("--seeds", type=int, default=50, help="seeds per audience")
    ap.add_argument("--batch", type=int, default=20_000, help="vectors per streamed batch")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)

    url = bench_database()
    owner, conn = connect(url), connect(url, role=PIPELINE_ROLE)
    tid = uuid.UUID(admin.create_tenant(owner, "bench-pools", "Bench pools"))
    # a layout that covers the 512 dimensions of the random vectors: text (384) and one block of 128
    spec = FeatureSpec(text_columns=["bio"], blocks=[BlockSpec(name="industry", columns=[
        ColumnSpec(name="industry", kind="categorical", categories=[f"i{i:03d}" for i in range(127)])], weight=1.0)])
    with tenant_transaction(conn, tid, APP_ROLE):
        save_spec(conn, tid, spec)
    t = time.perf_counter()
    ids = [uuid.uuid4() for _ in range(args.leads)]
    for s in range(0, args.leads, 50_000):
        upsert_leads(conn, tid, [{"lead_id": i, "external_id": str(i)} for i in ids[s:s + 50_000]])
    for s in range(0, args.leads, 20_000):
        chunk = ids[s:s + 20_000]
        with tenant_transaction(conn, tid, PIPELINE_ROLE):
            write_embeddings(conn, tid, chunk, ["0" * 64] * len(chunk), clustered_unit_vectors(len(chunk), rng),
                             "bench")
    with tenant_transaction(conn, tid, APP_ROLE):
        for a in range(args.audiences):
            seed_leads = [ids[i] for i in rng.choice(args.leads, args.seeds, replace=False)]
            seed_ids = []
            for lid in seed_leads:
                seed_ids.append(Q.admin.insert_seed(conn, tenant_id=tid, lead_id=lid, label="won", weight=None, source="bench"))
            conn.execute(Q.admin.insert_audience.sql, {"tenant_id": tid, "name": f"audience {a:02d}", "description": None,
                                                 "seed_set": psycopg_json({"seed_ids": [str(x) for x in seed_ids]}),
                                                 "rules": psycopg_json({}),
                                                 "metadata": psycopg_json({"pool_size": args.pool_size})})
    refresh_seed_profiles(conn, tid, "bench", min_seeds=3)
    owner.execute("vacuum analyze lead_embeddings")
    setup = time.perf_counter() - t

    # The same vectors and profiles in memory, for the numpy exact search.
    with tenant_transaction(conn, tid, PIPELINE_ROLE):
        batches = list(stream_vectors(conn, tid, args.batch, raw_ids=True))
        profiles = list(Q.pools.profiles(conn, tenant_id=tid))
        seeds_by_audience = {}
        audiences = {r[0]: r for r in Q.audiences.active_audiences(conn, tenant_id=tid)}
        live = {r[0]: r[1] for r in Q.embeddings.seed_vectors(conn, tenant_id=tid)}
    all_ids = np.concatenate([ids_ for ids_, _ in batches])
    V = np.concatenate([v for _, v in batches])
    from lookalike_assets.db.vector_copy import to_numpy

    P = np.stack([to_numpy(p[2]) for p in profiles])
    for audience_id, *_ in profiles:
        seed_ids = audiences[audience_id][2]["seed_ids"]
        seeds_by_audience[audience_id] = {live[uuid.UUID(s)].bytes for s in seed_ids}
    excl = [seeds_by_audience[p[0]] for p in profiles]
    excl_arrays = [np.array(sorted(e)) for e in excl]
    union = np.array(sorted(set().union(*excl)))

    def numpy_exact():
        """The best plain-numpy exact search: one matrix product, one membership pass for the exclusions."""
        S = V @ P.T
        hits = np.flatnonzero(np.isin(all_ids, union))
        out = []
        for a in range(len(P)):
            s = S[:, a].copy()
            s[hits[np.isin(all_ids[hits], excl_arrays[a])]] = -np.inf
            top = np.argpartition(-s, args.pool_size - 1)[: args.pool_size]
            out.append(top[np.argsort(-s[top])])
        return out

    def lookalike_scoring():
        top = TopN(P, n=args.pool_size, exclude=excl, layout=spec.layout)  # with the reasons, as the pipeline
        for ids_, vecs in batches:
            top.add(ids_, vecs)
        return top

    numpy_exact(), lookalike_scoring()  # warm-up
    reps = 3
    t = time.perf_counter()
    for _ in range(reps):
        exact = numpy_exact()
    t_numpy = (time.perf_counter() - t) / reps
    t = time.perf_counter()
    for _ in range(reps):
        lookalike_scoring()
    t_score = (time.perf_counter() - t) / reps

    timings: dict = {}
    t = time.perf_counter()
    res = refresh_candidate_pools(conn, tid, args.pool_size, args.batch, timings=timings)
    assert res and all(r.status == "staged" for r in res), res
    t_total = time.perf_counter() - t
    with tenant_transaction(conn, tid, PIPELINE_ROLE):
        got: dict = {}
        for lid, aud in conn.execute("select lead_id, audience_id from lookalike_pool_stage"):
            got.setdefault(aud, set()).add(lid.bytes.rstrip(b"\0"))
    recalls = [len(got.get(p[0], set()) & set(all_ids[exact[a]])) / args.pool_size for a, p in enumerate(profiles)]

    with owner.transaction():
        Q.backtest.delete_tenant(owner, tenant_id=tid)
    conn.close()
    owner.close()
    emit({
        "benchmark": "pools", "leads": args.leads, "audiences": args.audiences, "pool_size": args.pool_size,
        "numpy_exact_seconds": round(t_numpy, 4), "scoring_seconds": round(t_score, 4),
        "total_seconds": round(t_total, 3), "read_seconds": round(timings["read"], 3),
        "score_seconds_in_step": round(timings["score"], 3), "write_seconds": round(timings["write"], 3),
        "ratio": round(t_score / t_numpy, 3), "ratio_total": round(t_total / t_numpy, 3),
        "recall": round(float(np.mean(recalls)), 4), "peak_rss_mb": peak_rss_mb(),
        "setup_seconds": round(setup, 1), "machine": machine(),
    })


def psycopg_json(obj):
    from psycopg.types.json import Jsonb

    return Jsonb(obj)


if __name__ == "__main__":
    main()
