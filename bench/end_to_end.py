"""The whole graph over several tenants, through the real Dagster assets: features, embeddings, seed profiles,
pools, ranking, memberships, exports; then simulated conversions, conversion facts, the dbt marts and the
reports. Prints seconds per asset and the peak RSS of the process.

    python bench/end_to_end.py --leads 20000 --tenants 4                 # with all-MiniLM-L6-v2
    python bench/end_to_end.py --leads 1000000 --tenants 20 --tabular-only

Tenants are processed one at a time, and every step streams or works per tenant: no step holds all leads or
all vectors of the database. (PostgreSQL's own memory is another process and is not counted.)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict

from common import bench_database, emit, machine, peak_rss_mb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--leads", type=int, default=20_000, help="leads in all (split evenly over the tenants)")
    ap.add_argument("--tenants", type=int, default=4)
    ap.add_argument("--tabular-only", action="store_true", help="no transformer: tabular embeddings only")
    ap.add_argument("--pool-size", type=int, default=2000)
    args = ap.parse_args()

    import dagster as dg

    from lookalike_assets.db.connect import PIPELINE_ROLE, connect
    from lookalike_assets.definitions import tenant_assets
    from lookalike_assets.defs.analytics.dbt import dbt_models, dbt_resource
    from lookalike_assets.defs.audiences.resources import ExportDestinationResource
    from lookalike_assets.defs.feedback.assets import conversion_facts, performance_reports
    from lookalike_assets.defs.leads.resources import TextEncoderResource
    from lookalike_assets.defs.partitions import TENANTS_PARTITION
    from lookalike_assets.defs.resources import LookalikeDatabase, current_config
    from lookalike_assets.domain.demo_data import TENANTS
    from lookalike_assets.pipeline.conversions import simulate_demo_conversions
    from lookalike_assets.pipeline.demo import load_tenant

    url = bench_database()
    owner, conn = connect(url), connect(url, role=PIPELINE_ROLE)
    per_tenant = args.leads // args.tenants
    t0 = time.perf_counter()
    tenants = []
    for i in range(args.tenants):
        base = TENANTS[i % len(TENANTS)]
        import dataclasses

        profile = dataclasses.replace(base, slug=f"{base.slug}-{i:02d}", name=f"{base.name} {i:02d}")
        tenants.append(load_tenant(owner, profile, per_tenant, pool_size=args.pool_size))
    load_seconds = time.perf_counter() - t0

    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(TENANTS_PARTITION, [t.slug for t in tenants])
    exports = tempfile.mkdtemp(prefix="lookalike-bench-exports-")
    resources = {
        "db": LookalikeDatabase(database_url=url),
        "encoder": TextEncoderResource(encoder="none" if args.tabular_only else "minilm"),
        "lookalike": current_config(pool_size=args.pool_size),
        "exports": ExportDestinationResource(folder=exports),
        "dbt": dbt_resource(),
    }
    per_asset: dict[str, float] = defaultdict(float)

    def record(result) -> None:
        assert result.success
        for e in result.all_events:
            if e.event_type_value == "STEP_SUCCESS":
                per_asset[e.step_key] += e.event_specific_data.duration_ms / 1000

    t1 = time.perf_counter()
    for t in tenants:
        record(dg.materialize(tenant_assets, partition_key=t.slug, instance=instance, resources=resources,
                              raise_on_error=True))
    tenant_seconds = time.perf_counter() - t1

    t2 = time.perf_counter()
    days = set()
    for t in tenants:
        days |= simulate_demo_conversions(conn, t.tenant_id).days
    per_asset["simulate_conversions"] += time.perf_counter() - t2
    days = sorted(days)
    record(dg.materialize([conversion_facts], instance=instance, resources=resources,
                          tags={"dagster/asset_partition_range_start": days[0].isoformat(),
                                "dagster/asset_partition_range_end": days[-1].isoformat()}))
    record(dg.materialize([dbt_models(), performance_reports], instance=instance, resources=resources,
                          selection=dg.AssetSelection.groups("dbt_staging", "dbt_intermediate", "dbt_marts", "reports")))
    with owner.transaction():
        embedded = owner.execute("select count(*) from lead_embeddings").fetchone()[0]
        candidates = owner.execute("select count(*) from lookalike_candidate").fetchone()[0]
        members = owner.execute("select count(*) from lookalike_audience_member").fetchone()[0]
    conn.close()
    owner.close()
    total = time.perf_counter() - t0
    emit({
        "benchmark": "end_to_end", "leads": per_tenant * args.tenants, "tenants": args.tenants,
        "tabular_only": args.tabular_only, "embedded": embedded, "candidates": candidates, "members": members,
        "load_seconds": round(load_seconds, 1), "tenant_graph_seconds": round(tenant_seconds, 1),
        "seconds_per_asset": {k: round(v, 2) for k, v in sorted(per_asset.items())},
        "total_seconds": round(total, 1), "leads_per_second": round(per_tenant * args.tenants / total, 1),
        "peak_rss_mb": peak_rss_mb(), "machine": machine(),
    })


if __name__ == "__main__":
    main()
