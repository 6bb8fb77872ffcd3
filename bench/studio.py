"""The studio's pages as a person meets them: one tenant built through the pipeline (its outcomes simulated and the
marts built, so every chart is there), `lookalike api` serving the studio as shipped, and one signed-in person
opening each page and moving the reach slider, one request at a time.

    python bench/studio.py --leads 100000

Last line, JSON: per page or interaction, the requests, p50 and p95 in milliseconds, and errors; the targets are
p95 <= 300 ms for a page and <= 500 ms for reading a draft and for the slider's estimate.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, bench_database, emit, machine, peak_rss_mb

PAGE_TARGET_MS, INTERACTION_TARGET_MS = 300, 500


def build(url: str, leads: int, encoder: str) -> str:
    """One demo tenant through every asset, outcomes simulated and the marts built; returns its slug."""
    import dagster as dg

    from lookalike_assets.db.connect import PIPELINE_ROLE, connect, dbt_env
    from lookalike_assets.definitions import tenant_assets
    from lookalike_assets.defs.audiences.resources import ExportDestinationResource
    from lookalike_assets.defs.leads.resources import TextEncoderResource
    from lookalike_assets.defs.partitions import TENANTS_PARTITION
    from lookalike_assets.defs.resources import LookalikeDatabase, current_config
    from lookalike_assets.domain.demo_data import TENANTS
    from lookalike_assets.pipeline.conversions import rebuild_facts, simulate_demo_conversions
    from lookalike_assets.pipeline.demo import load_tenant

    owner = connect(url)
    t = load_tenant(owner, dataclasses.replace(TENANTS[0], slug="studio-bench", name="Studio Bench"), leads,
                    pool_size=2000)
    owner.close()
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(TENANTS_PARTITION, [t.slug])
    res = dg.materialize(tenant_assets, partition_key=t.slug, instance=instance, resources={
        "db": LookalikeDatabase(database_url=url), "encoder": TextEncoderResource(encoder=encoder),
        "lookalike": current_config(pool_size=2000), "exports": ExportDestinationResource(folder=tempfile.mkdtemp())})
    assert res.success
    pipe = connect(url, role=PIPELINE_ROLE)
    days = simulate_demo_conversions(pipe, t.tenant_id).days
    rebuild_facts(pipe, [str(t.tenant_id)], sorted(days))
    pipe.close()
    dbt = subprocess.run([str(Path(sys.executable).parent / "dbt"), "build", "--project-dir", str(ROOT / "dbt_project"),
                          "--profiles-dir", str(ROOT / "dbt_project")], env={**os.environ, **dbt_env(url)},
                         cwd=ROOT / "dbt_project", capture_output=True, text=True)
    if dbt.returncode != 0:
        raise SystemExit("dbt build failed:\n" + dbt.stdout[-3000:])
    return t.slug


def timed(client, method: str, path: str, n: int, **kw) -> dict:
    times, errors = [], 0
    for i in range(n + 3):
        t = time.perf_counter()
        r = client.request(method, path, **kw)
        ms = (time.perf_counter() - t) * 1000
        if r.status_code != 200:  # a redirect (to sign in) is a failure too
            errors += 1
        if i >= 3:  # the first three warm the caches (the catalog's vectors for drafts)
            times.append(ms)
    times.sort()
    return {"requests": n, "p50_ms": round(statistics.median(times), 1),
            "p95_ms": round(times[max(0, int(len(times) * 0.95) - 1)], 1), "errors": errors}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--leads", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=40, help="timed requests per page or interaction")
    ap.add_argument("--encoder", default="hashing", help="the tenant's embeddings (the build)")
    ap.add_argument("--service-encoder", default="minilm", help="the service's encoder (what reads drafts)")
    ap.add_argument("--reuse", action="store_true", help="keep the database a previous run built")
    args = ap.parse_args()

    import httpx

    from lookalike_assets.db.admin import grant_studio_user
    from lookalike_assets.db.connect import connect, server_url, with_database

    t0 = time.perf_counter()
    url = with_database(server_url(), "lookalike_bench_studio")
    if not args.reuse:
        url = bench_database("lookalike_bench_studio")
        slug = build(url, args.leads, args.encoder)
    else:
        slug = "studio-bench"
    setup = time.perf_counter() - t0
    owner = connect(url)
    tid, = owner.execute("select tenant_id from tenants where slug = %s", (slug,)).fetchone()
    aid, size = owner.execute("select audience_id, size_estimate from lookalike_audience where tenant_id = %s "
                              "order by size_estimate desc nulls last limit 1", (tid,)).fetchone()
    link = grant_studio_user(owner, tid, "bench@example.com", "editor").link
    owner.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "LOOKALIKE_DATABASE_URL": url, "LOOKALIKE_ENCODER": args.service_encoder}
    server = subprocess.Popen([str(Path(sys.executable).parent / "lookalike"), "api", "--port", str(port)], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                if httpx.get(base + "/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the API did not become ready")
            time.sleep(0.5)
        with httpx.Client(base_url=base, timeout=60, follow_redirects=False) as c:
            assert c.get(link).status_code == 303
            csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', c.get("/studio").text).group(1)
            sentence = "engineering managers and CTOs in Germany with more than 200 employees, like our closed deals"
            drafted = c.post("/studio/new", data={"csrf": csrf, "action": "read", "description": sentence})
            rules_json = re.search(r'name="rules_json" value="([^"]*)"', drafted.text).group(1).replace("&#34;", '"')
            keep = re.findall(r'name="keep" value="(\d+)"', drafted.text)  # every filter the draft read, kept
            company = re.search(r"<td>([^<—]+)</td>", c.get(f"/studio/audiences/{aid}").text).group(1)
            found = c.get("/studio/leads", params={"q": company}).text
            lead = re.search(r'href="/studio/leads/([0-9a-f-]{36})"', found).group(1)
            n = args.requests
            results = {
                "audiences": timed(c, "GET", "/studio", n),
                "audience": timed(c, "GET", f"/studio/audiences/{aid}", n),
                "members_by_company_page_3": timed(c, "GET", f"/studio/audiences/{aid}?sort=company&page=3", n),
                "seeds": timed(c, "GET", "/studio/seeds", n),
                "new_audience": timed(c, "GET", "/studio/new", n),
                "draft_read": timed(c, "POST", "/studio/new", n, data={"csrf": csrf, "action": "read",
                                                                      "description": sentence}),
                "slider_estimate": timed(c, "POST", "/studio/new/estimate", n, data={
                    "csrf": csrf, "rules_json": rules_json, "keep": keep, "reach_percent": "7.5", "capped": "true"}),
                "edit_audience": timed(c, "GET", f"/studio/audiences/{aid}/edit", n),
                "find_lead_by_company": timed(c, "GET", "/studio/leads", n, params={"q": company}),
                "lead_and_similar_leads": timed(c, "GET", f"/studio/leads/{lead}", n),
            }
    finally:
        server.terminate()
        server.wait(30)
    interactions = ("draft_read", "slider_estimate")
    met = all(r["p95_ms"] <= (INTERACTION_TARGET_MS if k in interactions else PAGE_TARGET_MS)
              for k, r in results.items())
    emit({"benchmark": "studio", "leads": args.leads, "audience_members": size, "pages": results,
          "targets_met": met, "errors": sum(r["errors"] for r in results.values()),
          "service_encoder": args.service_encoder, "setup_seconds": round(setup, 1), "peak_rss_mb": peak_rss_mb(),
          "machine": machine()})


if __name__ == "__main__":
    main()
