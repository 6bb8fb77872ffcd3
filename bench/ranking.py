"""What the two-stage pool costs: training a tenant's ranker and scoring every one of its leads, then choosing
the pools from those scores, against choosing them by similarity alone.

    python bench/ranking.py --leads 1000000          # one tenant, tabular vectors (no transformer)

Prints progress on stderr and one JSON object as its last line: seconds to load, build features and vectors,
train, score every lead (and leads/s), and the pool step with and without a model.
"""

from __future__ import annotations

import argparse
import sys
import time

from common import bench_database, emit, machine, peak_rss_mb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--leads", type=int, default=100_000)
    ap.add_argument("--pool-size", type=int, default=2000)
    args = ap.parse_args()

    from lookalike_assets.db.connect import PIPELINE_ROLE, connect
    from lookalike_assets.domain.demo_data import TENANTS
    from lookalike_assets.domain.encoder_choice import get_encoder
    from lookalike_assets.pipeline.demo import load_tenant
    from lookalike_assets.pipeline.embeddings import refresh_embeddings
    from lookalike_assets.pipeline.features import refresh_lead_features
    from lookalike_assets.pipeline.pools import refresh_candidate_pools, refresh_seed_profiles
    from lookalike_assets.pipeline.ranking import RankingConfig, train_and_promote

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    url = bench_database()
    owner, conn = connect(url), connect(url, role=PIPELINE_ROLE)
    out: dict = {"benchmark": "ranking", "leads": args.leads, "pool_size": args.pool_size, "machine": machine()}

    def timed(name: str, fn):
        t = time.perf_counter()
        res = fn()
        out[f"{name}_seconds"] = round(time.perf_counter() - t, 2)
        say(f"{name}: {out[f'{name}_seconds']}s")
        return res

    t = timed("load", lambda: load_tenant(owner, TENANTS[0], args.leads, pool_size=args.pool_size))
    tid = t.tenant_id
    timed("features", lambda: refresh_lead_features(conn, tid))
    emb = timed("embeddings", lambda: refresh_embeddings(conn, tid, get_encoder("none"), batch_size=4096))
    timed("seed_profiles", lambda: refresh_seed_profiles(conn, tid, emb.model_version))
    timed("pools_by_similarity", lambda: refresh_candidate_pools(conn, tid, args.pool_size))

    last = [time.perf_counter()]

    def progress(done: int, total: int | None) -> None:
        if time.perf_counter() - last[0] > 10 or done == total:
            last[0] = time.perf_counter()
            say(f"  scored {done}/{total}")

    res = timed("train_and_score", lambda: train_and_promote(conn, tid, RankingConfig(), progress=progress))
    assert res.status == "promoted", res.reason
    out["scored"] = res.scored
    out["scoring_seconds"] = round(res.scoring_seconds, 2)
    out["training_seconds"] = round(res.seconds - res.scoring_seconds, 2)
    out["leads_scored_per_second"] = round(res.scored / max(res.scoring_seconds, 1e-9))
    pools = timed("pools_by_ranking", lambda: refresh_candidate_pools(conn, tid, args.pool_size))
    assert all(p.ordered_by == "ranking" for p in pools)
    with owner.transaction():
        owner.execute("delete from tenants where tenant_id = %s", (tid,))
    owner.close()
    conn.close()
    out["peak_rss_mb"] = peak_rss_mb()
    emit(out)


if __name__ == "__main__":
    main()
