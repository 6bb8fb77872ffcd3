"""The API under load: `lookalike api` against a tenant of --leads leads (text embedded with the shipped encoder)
with --tenants tenants in the table, driven by locust (headless) with --clients clients for --seconds seconds.
Prints p50/p95/p99 latency and throughput per endpoint, errors, and the recall@10 of similar-leads against an
exact search.

    python bench/api.py --leads 100000 --tenants 20 --clients 20 --seconds 60

The other tenants get as many leads, each with a random unit vector and no index of their own (their rows are
what a search must never touch and what a shared index would have to wade through); the measured tenant goes
through the whole pipeline (features, embeddings with its own ANN index, seeds' profiles, ranking, audiences).
--reuse keeps the database of a previous run (the set-up of 2M rows takes most of the time).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
from common import ROOT, bench_database, emit, machine, peak_rss_mb

BENCH_DB = "lookalike_bench_api"


def background_tenant(url: str, i: int, n: int, rng: np.random.Generator) -> None:
    """A tenant of n leads with random unit vectors (no pipeline run): rows a search must never read."""
    from lookalike_assets.db.connect import APP_ROLE, PIPELINE_ROLE, connect, tenant_transaction
    from lookalike_assets.domain.demo_data import TENANTS
    from lookalike_assets.pipeline.demo import load_tenant
    from lookalike_assets.pipeline.embeddings import write_embeddings

    owner, app, pipe = connect(url), connect(url, role=APP_ROLE), connect(url, role=PIPELINE_ROLE)
    base = TENANTS[i % len(TENANTS)]
    t = load_tenant(owner, dataclasses.replace(base, slug=f"other-{i:02d}", name=f"Other {i:02d}"), 10, pool_size=10)
    with tenant_transaction(app, t.tenant_id, APP_ROLE):
        app.execute("insert into leads (tenant_id, external_id) select %s, 'bg-' || g from generate_series(1, %s) g",
                    (t.tenant_id, n))
    with tenant_transaction(pipe, t.tenant_id, PIPELINE_ROLE):
        ids = [r[0] for r in pipe.execute("select lead_id from leads where external_id like 'bg-%%'")]
    for start in range(0, len(ids), 20_000):
        chunk = ids[start:start + 20_000]
        vecs = rng.standard_normal((len(chunk), 512), dtype=np.float32)
        with tenant_transaction(pipe, t.tenant_id, PIPELINE_ROLE):
            write_embeddings(pipe, t.tenant_id, chunk, ["0" * 64] * len(chunk), vecs, "random")
    for c in (owner, app, pipe):
        c.close()


def build(url: str, args) -> str:
    """The measured tenant through the pipeline, then the others; returns the measured tenant's slug."""
    import dagster as dg

    from lookalike_assets.db.connect import connect
    from lookalike_assets.definitions import tenant_assets
    from lookalike_assets.defs.audiences.resources import ExportDestinationResource
    from lookalike_assets.defs.leads.resources import TextEncoderResource
    from lookalike_assets.defs.partitions import TENANTS_PARTITION
    from lookalike_assets.defs.resources import LookalikeDatabase, current_config
    from lookalike_assets.domain.demo_data import TENANTS
    from lookalike_assets.pipeline.demo import load_tenant

    owner = connect(url)
    t0 = time.perf_counter()
    t = load_tenant(owner, dataclasses.replace(TENANTS[0], slug="measured", name="Measured"), args.leads,
                    pool_size=2000)
    owner.close()
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(TENANTS_PARTITION, [t.slug])
    res = dg.materialize(tenant_assets, partition_key=t.slug, instance=instance, resources={
        "db": LookalikeDatabase(database_url=url), "encoder": TextEncoderResource(encoder=args.encoder),
        "lookalike": current_config(pool_size=2000), "exports": ExportDestinationResource(folder=tempfile.mkdtemp())})
    assert res.success
    print(f"measured tenant: {args.leads} leads through the pipeline in {time.perf_counter() - t0:.0f}s", flush=True)
    rng = np.random.default_rng(7)
    for i in range(1, args.tenants):
        t1 = time.perf_counter()
        background_tenant(url, i, args.other_leads or args.leads, rng)
        print(f"tenant {i + 1}/{args.tenants}: {time.perf_counter() - t1:.0f}s", flush=True)
    return t.slug


def recall_at_10(url: str, tenant_id: uuid.UUID, probes: list[str]) -> tuple[float, float]:
    """Mean recall@10 of the API's search path against the exact search, and the mean exact-search time (ms)."""
    from lookalike_assets.db.connect import APP_ROLE, connect, tenant_transaction
    from lookalike_assets.db.queries import Q
    from lookalike_assets.pipeline.online import as_array, nearest

    conn = connect(url, role=APP_ROLE)
    conn.execute("set plan_cache_mode = force_custom_plan")
    hits, exact_ms = [], []
    for ref in probes:
        with tenant_transaction(conn, tenant_id, APP_ROLE):
            row = Q.online.lead_vector(conn, tenant_id=tenant_id, ref=ref, ref_id=None)
            vec = as_array(row.embedding)
            got = {r.lead_id for r in nearest(conn, tenant_id, vec, 10, exclude=[row.lead_id])}
            t = time.perf_counter()
            want = {r.lead_id for r in Q.online.nearest_leads_exact(conn, tenant_id=tenant_id, vector=vec,
                                                                     exclude=[row.lead_id], k=10)}
            exact_ms.append((time.perf_counter() - t) * 1000)
        hits.append(len(got & want) / 10)
    conn.close()
    return float(np.mean(hits)), float(np.mean(exact_ms))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--leads", type=int, default=100_000, help="leads of the measured tenant")
    ap.add_argument("--tenants", type=int, default=20, help="tenants in the table, the measured one included")
    ap.add_argument("--other-leads", type=int, default=None, help="leads of each other tenant (default: --leads)")
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--rate", type=float, default=1.0, help="requests per second of each client (0: as fast as it "
                    "can, which measures the saturated service: latency is then concurrency / throughput)")
    ap.add_argument("--arrivals", choices=("poisson", "lockstep"), default="poisson",
                    help="poisson: each client at random moments (independent applications); lockstep: all the "
                    "clients at the same instant once per 1/rate seconds (a burst, the worst case)")
    ap.add_argument("--encoder", default="minilm", help="the encoder of the measured tenant and of the service")
    ap.add_argument("--port", type=int, default=0, help="port of the service (0: a free one)")
    ap.add_argument("--reuse", action="store_true", help="keep the database a previous run built")
    args = ap.parse_args()

    from lookalike_assets.db.admin import grant_api_key
    from lookalike_assets.db.connect import connect, server_url, with_database

    url = with_database(server_url(), BENCH_DB)
    t0 = time.perf_counter()
    if not args.reuse:
        url = bench_database(BENCH_DB)
        build(url, args)
    setup_seconds = time.perf_counter() - t0
    owner = connect(url)
    tid = owner.execute("select tenant_id from tenants where slug = 'measured'").fetchone()[0]
    key = grant_api_key(owner, tid, "bench").key
    leads = owner.execute("select external_id, company, industry, company_size, country, region, title, seniority, "
                          "bio, property_type, email_opens, web_visits from leads where tenant_id = %s "
                          "order by md5(external_id) limit 500", (tid,)).fetchall()
    indexes = owner.execute("select count(*) from pg_indexes where indexname like 'lead_embeddings_ann_%%'").fetchone()[0]
    rows_in_table = owner.execute("select count(*) from lead_embeddings").fetchone()[0]
    owner.close()
    probes = [r.external_id for r in leads]
    recall, exact_ms = recall_at_10(url, tid, probes[:200])

    work = Path(tempfile.mkdtemp(prefix="lookalike-bench-api-"))
    targets = work / "targets.json"
    targets.write_text(json.dumps({"tenant_id": str(tid), "key": key, "leads": probes, "attributes": [
        {k: v for k, v in r._asdict().items() if k != "external_id" and v is not None} for r in leads]}))
    env = {**os.environ, "LOOKALIKE_DATABASE_URL": url, "LOOKALIKE_ENCODER": args.encoder,
           "LOOKALIKE_BENCH_TARGETS": str(targets), "LOOKALIKE_BENCH_RATE": str(args.rate),
           "LOOKALIKE_BENCH_ARRIVALS": args.arrivals}
    if not args.port:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            args.port = sock.getsockname()[1]
    lookalike = str(Path(sys.executable).parent / "lookalike")
    server = subprocess.Popen([lookalike, "api", "--port", str(args.port)], env=env)
    try:
        import requests

        deadline = time.monotonic() + 300
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{args.port}/ready", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the API did not become ready")
            time.sleep(0.5)
        subprocess.run([str(Path(sys.executable).parent / "locust"), "-f", str(ROOT / "bench" / "locustfile.py"),
                        "--headless", "-u", str(args.clients), "-r", str(args.clients), "-t", f"{args.seconds}s",
                        "--host", f"http://127.0.0.1:{args.port}", "--csv", str(work / "load"), "--only-summary",
                        "--loglevel", "WARNING"], env=env, check=False)
    finally:
        server.terminate()
        server.wait(30)
    endpoints = {}
    with open(work / "load_stats.csv") as f:
        for row in csv.DictReader(f):
            endpoints[row["Name"]] = {
                "requests": int(row["Request Count"]), "failures": int(row["Failure Count"]),
                "p50_ms": float(row["50%"]), "p95_ms": float(row["95%"]), "p99_ms": float(row["99%"]),
                "requests_per_second": round(float(row["Requests/s"]), 1)}
    emit({"benchmark": "api", "leads": args.leads, "tenants": args.tenants, "rows_in_table": rows_in_table,
          "ann_indexes": indexes, "clients": args.clients,
          "rate_per_client": args.rate, "arrivals": args.arrivals, "seconds": args.seconds, "encoder": args.encoder,
          "recall_at_10": round(recall, 4), "exact_search_ms": round(exact_ms, 1),
          "endpoints": endpoints, "errors": sum(e["failures"] for n, e in endpoints.items() if n != "Aggregated"),
          "setup_seconds": round(setup_seconds, 1), "peak_rss_mb": peak_rss_mb(), "machine": machine()})


if __name__ == "__main__":
    main()
