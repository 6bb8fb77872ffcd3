"""lead_features and lead_embeddings, per tenant partition."""


import sys

import dagster as dg

from lookalike_assets.db.connect import PIPELINE_ROLE, tenant_transaction
from lookalike_assets.db.queries import Q
from lookalike_assets.defs.helpers import (
    ProgressLog,
    check_result,
    lookalike_asset,
    md_table,
    tenant_name,
    tenant_step,
)
from lookalike_assets.defs.leads.resources import TextEncoderResource
from lookalike_assets.defs.partitions import tenant_partitions
from lookalike_assets.defs.resources import LookalikeConfig, LookalikeDatabase
from lookalike_assets.domain import encoders, features, vectors
from lookalike_assets.domain import health as domain_health
from lookalike_assets.domain.vectors import DIM
from lookalike_assets.pipeline import embeddings, health
from lookalike_assets.pipeline import features as feature_pipeline
from lookalike_assets.pipeline.embeddings import ensure_ann_index, refresh_embeddings
from lookalike_assets.pipeline.features import refresh_lead_features

GROUP = "leads"


@lookalike_asset(
    table="lead_features",
    code=[sys.modules[__name__], feature_pipeline, features, health, domain_health],
    rows="changed",
    partitions_def=tenant_partitions,
    deps=["leads"],
    group_name=GROUP,
    kinds={"python", "postgres"},
    description="Numeric and categorical features of each lead and the text blob that is embedded "
    "(table lead_features). Only leads whose content changed are rewritten.",
    check_specs=[dg.AssetCheckSpec("inputs_fresh", asset="lead_features",
                                   description="The tenant's leads changed, and (once it exported audiences) "
                                   "conversion events arrived, within LOOKALIKE_STALE_AFTER_DAYS.")],
)
def lead_features(context: dg.AssetExecutionContext, db: LookalikeDatabase,
                  lookalike: LookalikeConfig) -> dg.MaterializeResult:
    with tenant_step(context, db) as (tid, conn):
        name = tenant_name(conn, tid)
        res = refresh_lead_features(conn, tid, progress=ProgressLog(context, "features"))
        fresh = health.freshness_finding(conn, tid, lookalike.health())
        with tenant_transaction(conn, tid, PIPELINE_ROLE):
            summary = Q.features.feature_summary(conn, tenant_id=tid)
    context.log.info(f"{name}: {res.leads} leads, {res.changed} changed, spec {res.spec_version}, "
                     f"{res.seconds:.2f}s")
    return dg.MaterializeResult(metadata={
        "tenant": name,
        "leads": res.leads,
        "changed": res.changed,
        "feature_spec_version": res.spec_version,
        "text_columns": ", ".join(res.spec.text_columns) or "(none)",
        "blocks": md_table(["block", "columns", "weight"], [
            (b, ", ".join(c.name for c in blk.columns) if blk else ", ".join(res.spec.text_columns), w)
            for (b, w), blk in zip(res.spec.block_weights().items(), [None, *res.spec.blocks])
        ]),
        "seconds": round(res.seconds, 3),
        # counts only: a lead's id or words in metadata would stay in Dagster's storage after an erasure
        "leads_with_text": summary.with_text if summary else 0,
        "mean_text_chars": (summary.mean_text_chars or 0) if summary else 0,
    }, check_results=[check_result("inputs_fresh", fresh)])


@lookalike_asset(
    table="lead_embeddings",
    code=[sys.modules[__name__], embeddings, encoders, vectors, features, health, domain_health],
    rows="embedded_this_run",
    partitions_def=tenant_partitions,
    deps=[lead_features],
    group_name=GROUP,
    kinds={"python", "pytorch", "postgres"},
    description="Unit vectors per lead in pgvector (table lead_embeddings): all-MiniLM-L6-v2 over the text "
    "blob plus tabular blocks. Only leads whose content hash or model version changed are embedded.",
    check_specs=[dg.AssetCheckSpec("every_lead_embedded", asset="lead_embeddings",
                                   description="Every lead has a current embedding."),
                 dg.AssetCheckSpec("embedding_coverage", asset="lead_embeddings",
                                   description="At least LOOKALIKE_MIN_EMBEDDING_COVERAGE of the tenant's leads "
                                   "have a current embedding (error: below it, search misses leads).")],
)
def lead_embeddings(
    context: dg.AssetExecutionContext, db: LookalikeDatabase, encoder: TextEncoderResource,
    lookalike: LookalikeConfig,
) -> dg.MaterializeResult:
    enc = encoder.get()
    with tenant_step(context, db) as (tid, conn):
        name = tenant_name(conn, tid)
        res = refresh_embeddings(conn, tid, enc, batch_size=lookalike.embed_chunk_size,
                                 progress=ProgressLog(context, "embedded"))
        with tenant_transaction(conn, tid, PIPELINE_ROLE):
            leads, embedded, stale = Q.embeddings.embedding_coverage(conn, tenant_id=tid, model_version=res.model_version)
        ann = ensure_ann_index(conn, tid, lookalike.ann_index_min_leads)
        if ann in ("created", "dropped"):
            context.log.info(f"{name}: approximate index for similar-leads search {ann}")
    context.log.info(f"{name}: embedded {res.embedded} of {res.to_embed} changed leads in {res.seconds:.1f}s "
                     f"({res.rate:,.0f}/s); coverage {embedded}/{leads}")
    if res.skipped_empty:
        # a count, not the leads' ids: logs stay in Dagster's storage after an erasure
        context.log.warning(f"{len(res.skipped_empty)} lead(s) have no features and no text, not embedded "
                            "(they are the leads without a row in lead_embeddings)")
    coverage = embedded / leads if leads else 1.0
    return dg.MaterializeResult(
        metadata={
                "tenant": name,
            "model": enc.name,
            "model_version": res.model_version,
            "dimension": DIM,
            "embedded_this_run": res.embedded,
            "leads": leads,
            "embedded_total": embedded,
            "coverage": round(coverage, 4),
            "skipped_no_content": len(res.skipped_empty),
            "seconds": round(res.seconds, 3),
            "leads_per_second": round(res.rate, 1),
            "ann_index": ann,
        },
        check_results=[dg.AssetCheckResult(
            check_name="every_lead_embedded", passed=bool(embedded == leads and stale == 0),
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"leads": leads, "embedded": embedded, "stale": stale},
        ), check_result("embedding_coverage", health.coverage_finding(leads, embedded, stale, lookalike.health()))],
    )
