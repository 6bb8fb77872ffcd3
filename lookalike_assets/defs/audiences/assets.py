"""seed_profiles, candidate_pools, audience_memberships, audience_segments and audience_exports, per tenant
partition."""

import sys

import dagster as dg

from lookalike_assets.db.connect import PIPELINE_ROLE, tenant_transaction
from lookalike_assets.db.queries import Q
from lookalike_assets.defs.audiences.resources import ExportDestinationResource
from lookalike_assets.defs.helpers import check_result, lookalike_asset, md_table, tenant_name, tenant_step
from lookalike_assets.defs.leads.assets import lead_embeddings
from lookalike_assets.defs.leads.resources import TextEncoderResource
from lookalike_assets.defs.partitions import tenant_partitions
from lookalike_assets.defs.resources import LookalikeConfig, LookalikeDatabase
from lookalike_assets.domain import audience, destinations, exports, identifiers, rules, similarity
from lookalike_assets.domain import health as domain_health
from lookalike_assets.domain import segments as segment_domain
from lookalike_assets.pipeline import destinations as destination_pipeline
from lookalike_assets.pipeline import exports as export_pipeline
from lookalike_assets.pipeline import health, memberships, pools
from lookalike_assets.pipeline import segments as segment_pipeline
from lookalike_assets.pipeline.common import Timer
from lookalike_assets.pipeline.embeddings import model_version
from lookalike_assets.pipeline.exports import run_exports
from lookalike_assets.pipeline.features import load_spec
from lookalike_assets.pipeline.incrementality import NOT_BUILT as INCREMENTALITY_NOT_BUILT
from lookalike_assets.pipeline.incrementality import audience_incrementality, describe_lift
from lookalike_assets.pipeline.memberships import refresh_memberships
from lookalike_assets.pipeline.pools import refresh_candidate_pools, refresh_seed_profiles
from lookalike_assets.reporting.charts import (
    incrementality_png,
    markdown_image,
    reach_curve_png,
    segment_sizes_png,
)

GROUP = "audiences"


@lookalike_asset(
    table="lookalike_seed_profile",
    code=[sys.modules[__name__], pools, similarity, audience],
    rows="built",
    partitions_def=tenant_partitions,
    deps=[lead_embeddings, "lookalike_seed", "lookalike_audience"],
    group_name=GROUP,
    kinds={"python", "postgres"},
    description="Weighted centroid of each audience's live seeds (won > meeting > replied > scored), in "
    "lookalike_seed_profile. An audience below the minimum seed count keeps its last profile and is reported.",
)
def seed_profiles(
    context: dg.AssetExecutionContext, db: LookalikeDatabase, encoder: TextEncoderResource,
    lookalike: LookalikeConfig,
) -> dg.MaterializeResult:
    t = Timer()
    with tenant_step(context, db) as (tid, conn):
        name = tenant_name(conn, tid)
        with tenant_transaction(conn, tid, PIPELINE_ROLE):
            spec = load_spec(conn, tid)
        if spec is None:
            raise dg.Failure("no feature spec for this tenant: materialize lead_features first")
        results = refresh_seed_profiles(conn, tid, model_version(encoder.get(), spec),
                                        min_seeds=lookalike.min_seeds, warn_seeds=lookalike.warn_seeds)
    for r in results:
        context.log.info(f"{r.name}: {r.status}, {r.seed_count} seeds" + (f" ({r.reason})" if r.reason else ""))
        for w in r.warnings:
            context.log.warning(f"{r.name}: {w}")
    return dg.MaterializeResult(metadata={
        "tenant": name,
        "audiences": len(results),
        "built": sum(r.status == "built" for r in results),
        "unchanged": sum(r.status == "unchanged" for r in results),
        "skipped": sum(r.status == "skipped" for r in results),
        "profiles": md_table(["audience", "status", "seeds", "notes"], [
            (r.name, r.status, r.seed_count, "; ".join(filter(None, [r.reason, *r.warnings])) or "")
            for r in results
        ]),
        "seconds": round(t.seconds, 3),
    })


@lookalike_asset(
    table="lookalike_pool_stage",
    code=[sys.modules[__name__], pools, similarity, health, domain_health],
    rows="candidates",
    partitions_def=tenant_partitions,
    deps=[seed_profiles, "ranking_model", "suppression_list"],
    group_name=GROUP,
    kinds={"python", "postgres"},
    description="Each audience's next pool, staged in lookalike_pool_stage: the top N leads by the tenant's "
    "ranking model where it has one (lookalike_lead_score), else the top N by similarity to the seed profile "
    "(exact search over the tenant's own vectors); its seeds and suppressed leads left out; with similarity, "
    "decile over the order the audience is cut by (10 = best) and the per-block 'why similar' breakdown. "
    "audience_memberships publishes pool and members together.",
    check_specs=[dg.AssetCheckSpec("pools_have_requested_size", asset="candidate_pools",
                                   description="Each pool holds min(requested size, eligible leads)."),
                 dg.AssetCheckSpec("pool_not_shrunk", asset="candidate_pools",
                                   description="No audience's pool lost more than LOOKALIKE_MAX_POOL_SHRINK of its "
                                   "candidates since the last refresh.")],
)
def candidate_pools(
    context: dg.AssetExecutionContext, db: LookalikeDatabase, lookalike: LookalikeConfig
) -> dg.MaterializeResult:
    t = Timer()
    with tenant_step(context, db) as (tid, conn):
        name = tenant_name(conn, tid)
        results = refresh_candidate_pools(conn, tid, lookalike.pool_size, lookalike.stream_batch,
                                          min_seeds=lookalike.min_seeds, run_id=context.run.run_id)
        shrink = health.pool_finding(conn, tid, {r.audience_id: (r.name, r.candidates) for r in results
                                                 if r.status == "staged"}, lookalike.health())
        previews = {}
        with tenant_transaction(conn, tid, PIPELINE_ROLE):
            for r in [r for r in results if r.status == "staged"][:3]:
                previews[r.name] = list(Q.pools.staged_pool_preview(conn, tenant_id=tid, audience_id=r.audience_id, n=5))
    short = [r for r in results if r.status == "staged" and r.candidates < min(r.requested, r.eligible)]
    for r in results:
        if r.status == "kept":
            context.log.warning(f"{r.name}: too few seeds now, its last pool is kept unchanged")
            continue
        context.log.info(f"{r.name}: {r.candidates} candidates of {r.eligible} eligible, by {r.ordered_by}")
    metadata = {
        "tenant": name,
        "audiences": len(results),
        "candidates": sum(r.candidates for r in results),
        "pools": md_table(["audience", "status", "chosen by", "candidates", "requested", "eligible", "top score"], [
            (r.name, r.status, r.ordered_by, r.candidates, r.requested, r.eligible, r.top_score or 0.0)
            for r in results
        ]),
        "seconds": round(t.seconds, 3),
    }
    for aud, rows in previews.items():
        # the best candidates by rank, without who they are: metadata stays in Dagster's storage after an erasure
        metadata[f"preview: {aud}"] = md_table(
            ["rank", "industry", "rank score", "similarity", "decile", "why similar"],
            [(i, r.industry, "-" if r.rank_score is None else round(r.rank_score, 4),
              round(r.similarity_score, 4), r.decile,
              ", ".join(f"{k} {v:+.3f}" for k, v in sorted(r.reasons.items(), key=lambda kv: -kv[1])[:3]))
             for i, r in enumerate(rows, 1)],
        )
    return dg.MaterializeResult(
        metadata=metadata,
        check_results=[dg.AssetCheckResult(
            check_name="pools_have_requested_size", passed=not short,
            metadata={"short_pools": ", ".join(r.name for r in short) or "none"},
        ), check_result("pool_not_shrunk", shrink)],
    )


@lookalike_asset(
    table="lookalike_audience_member",
    code=[sys.modules[__name__], memberships, rules, health, domain_health],
    rows="members",
    partitions_def=tenant_partitions,
    deps=[candidate_pools],
    group_name=GROUP,
    kinds={"python", "postgres"},
    description="Each audience's members after its rules, exclusions and reach cap, best first by the ranking "
    "model's score (else similarity): the staged pool becomes its candidates (lookalike_candidate) and the "
    "members (lookalike_audience_member) are replaced with size_estimate and status in one transaction per "
    "audience, so readers and exports see the old audience or the new one, never half; publishes audiences "
    "that ask for it. With rules.holdout, each member's arm (treatment, or control: never exported) follows "
    "from a stable hash of tenant, audience and lead; the metadata shows the arms and, from the marts, the "
    "incrementality (lift of treatment over control with its 95 % interval, and a chart). An audience with an "
    "invalid definition or too few seeds keeps its last members and is reported.",
    check_specs=[dg.AssetCheckSpec("audiences_valid", asset="audience_memberships",
                                   description="Every active audience could be built."),
                 dg.AssetCheckSpec("conversion_rate_steady", asset="audience_memberships",
                                   description="No published audience's conversion rate (exported leads converted "
                                   "after their export) of the last 7 days fell below its trailing 4 weeks' rate by "
                                   "more than LOOKALIKE_CONVERSION_DROP_TOLERANCE.")],
)
def audience_memberships(
    context: dg.AssetExecutionContext, db: LookalikeDatabase, lookalike: LookalikeConfig
) -> dg.MaterializeResult:
    t = Timer()
    with tenant_step(context, db) as (tid, conn):
        name = tenant_name(conn, tid)
        results = refresh_memberships(conn, tid, min_seeds=lookalike.min_seeds, warn_seeds=lookalike.warn_seeds)
        lift = audience_incrementality(conn, tid, PIPELINE_ROLE)
        rates = health.conversion_finding(conn, tid, lookalike.health())
    for r in results:
        if r.status == "built":
            pc = r.pool_changes
            context.log.info(f"{r.name}: {r.size} members (+{r.added} -{r.removed}), cap {r.cap}, dropped "
                             f"{r.dropped}; pool +{pc.get('inserted', 0)} new, -{pc.get('removed', 0)} gone")
        else:
            context.log.warning(f"{r.name}: skipped, last members kept: {r.reason}")
    built = [r for r in results if r.status == "built"]
    metadata = {
        "tenant": name,
        "audiences": len(results),
        "members": sum(r.size for r in built),
        "memberships": md_table(["audience", "status", "size", "added", "removed", "cap", "dropped", "notes"], [
            (r.name, r.status, r.size, r.added, r.removed, r.cap if r.cap is not None else "-",
             ", ".join(f"{k}: {v}" for k, v in r.dropped.items()) or "-", r.reason or "; ".join(r.warnings) or "")
            for r in results
        ]),
        "overlap": md_table(["audience", "other audience", "shared", "jaccard"], [
            (r.name, other, o["shared"], o["jaccard"]) for r in built for other, o in r.overlap.items()
        ]),
        "seconds": round(t.seconds, 3),
    }
    tuned = [r for r in results if r.tuned]
    if tuned:
        metadata["tuned"] = md_table(["audience", "reach before", "reach after", "why"], [
            (r.name, r.tuned["before"], r.tuned["after"], r.tuned["reason"]) for r in tuned])
    held = [r for r in built if r.holdout.get("percent")]
    if held:
        metadata["holdouts"] = md_table(["audience", "holdout %", "treatment (exported)", "control (held out)"], [
            (r.name, r.holdout["percent"], r.holdout["treatment"], r.holdout["control"]) for r in held])
    if lift is None:
        metadata["incrementality"] = f"not yet: {INCREMENTALITY_NOT_BUILT}"
    elif lift:
        metadata["incrementality"] = md_table(
            ["audience", "treatment", "control", "lift (as of the marts' last build)"],
            [(x["audience_name"], x["treatment_members"], x["control_members"], describe_lift(x)) for x in lift])
        metadata["incrementality_chart"] = dg.MetadataValue.md(markdown_image(
            incrementality_png(lift, title=f"{name}: lift over the holdout"), "incrementality"))
    curves = {r.name: r.reach_curve for r in built if r.reach_curve}
    if curves:
        scored = {r.name: r.scored_by for r in built if r.reach_curve}
        metadata["reach_curve"] = dg.MetadataValue.md(markdown_image(
            reach_curve_png(curves, title=f"{name}: the weakest member as reach grows", scored_by=scored),
            "reach curve"))
        metadata["reach_curve_points"] = dg.MetadataValue.json(curves)
    # an audience created while this run was going waits for the next run: reported, not a failure
    skipped = [r for r in results if r.status not in ("built", "waiting")]
    return dg.MaterializeResult(
        metadata=metadata,
        check_results=[dg.AssetCheckResult(
            check_name="audiences_valid", passed=not skipped, severity=dg.AssetCheckSeverity.WARN,
            metadata={"skipped": "; ".join(f"{r.name}: {r.reason}" for r in skipped) or "none"},
        ), check_result("conversion_rate_steady", rates)],
    )


@lookalike_asset(
    table="lookalike_audience_segment",
    code=[sys.modules[__name__], segment_pipeline, segment_domain],
    rows="segmented",
    partitions_def=tenant_partitions,
    deps=[audience_memberships],
    group_name=GROUP,
    kinds={"python", "postgres"},
    description="Each published audience split into k balanced segments (constrained k-medians over its members' "
    "vectors, k chosen by cohesion within the size bounds of rules.segments: by default 5-10 % of the tenant's "
    "scored leads when the audience allows it, else 10-50 % of the audience), with a readable profile per segment "
    "(size, share, dominant values and their lift, mean similarity and rank score, a name from its two most "
    "distinctive traits), in lookalike_audience_segment and lookalike_segment_member; one transaction per "
    "audience. An audience too small for its bounds gets no segments and the reason.",
    check_specs=[dg.AssetCheckSpec("segments_within_bounds", asset="audience_segments",
                                   description="Every segment's size is within its audience's bounds; audiences "
                                   "that could not be split say why.")],
)
def audience_segments(context: dg.AssetExecutionContext, db: LookalikeDatabase) -> dg.MaterializeResult:
    t = Timer()
    with tenant_step(context, db) as (tid, conn):
        name = tenant_name(conn, tid)
        results = segment_pipeline.refresh_segments(conn, tid)
    built = [r for r in results if r.status == "built"]
    out_of_bounds = []
    for r in results:
        if r.status == "built":
            context.log.info(f"{r.name}: {r.k} segments of {r.members} members ({r.bounds}; cohesion by k "
                             f"{r.scores}) in {r.seconds:.1f}s")
            out_of_bounds += [f"{r.name} / {s.name}: {s.size}" for s in r.segments if not r.lo <= s.size <= r.hi]
        elif r.status == "skipped":
            context.log.warning(f"{r.name}: no segments: {r.reason}")
    metadata = {
        "tenant": name,
        "audiences": len(results),
        "segmented": len(built),
        "segments": md_table(["audience", "status", "k", "members", "bounds", "notes"], [
            (r.name, r.status, r.k or "-", r.members or "-", r.bounds or "-", r.reason or "") for r in results
        ]),
        "seconds": round(t.seconds, 3),
    }
    for r in built:
        metadata[f"segments: {r.name}"] = md_table(
            ["#", "segment", "size", "share", "mean similarity", "mean rank score", "traits (lift)"],
            [(s.segment_no, s.name, s.size, f"{s.share:.1%}", s.mean_similarity,
              "-" if s.mean_rank_score is None else s.mean_rank_score,
              ", ".join(f"{t['field'].removeprefix('attributes.')}={t['value']} ×{t['lift']:.2f}" for t in s.traits[:3]))
             for s in r.segments])
    if built:
        chart = segment_sizes_png({r.name: [{"name": s.name, "size": s.size, "traits": s.traits} for s in r.segments]
                                   for r in built})
        metadata["segment_chart"] = dg.MetadataValue.md(markdown_image(chart, "segment sizes and traits"))
    skipped = [r for r in results if r.status == "skipped"]
    return dg.MaterializeResult(
        metadata=metadata,
        check_results=[dg.AssetCheckResult(
            check_name="segments_within_bounds", passed=not out_of_bounds, severity=dg.AssetCheckSeverity.ERROR,
            metadata={"out_of_bounds": ", ".join(out_of_bounds) or "none",
                      "not_split": "; ".join(f"{r.name}: {r.reason}" for r in skipped) or "none"},
        )],
    )


@lookalike_asset(
    table="lookalike_export_job",
    code=[sys.modules[__name__], export_pipeline, exports, identifiers],
    rows="exports",
    partitions_def=tenant_partitions,
    deps=[audience_memberships, audience_segments],
    group_name=GROUP,
    kinds={"python", "csv"},
    description="For each published audience and each of its destinations, the CSV the platform's upload "
    "accepts (Meta, Google Customer Match, LinkedIn, CRM), and one per segment for a destination with "
    "per_segment (the holdout's control arm is never in any of them), delivered to the configured destination "
    "with retries; every export is logged in lookalike_export_job.",
    check_specs=[dg.AssetCheckSpec("exports_delivered", asset="audience_exports",
                                   description="No export failed (skipped ones below a platform minimum are fine).")],
)
def audience_exports(
    context: dg.AssetExecutionContext, db: LookalikeDatabase, exports: ExportDestinationResource
) -> dg.MaterializeResult:
    t = Timer()
    dest = exports.get()
    with tenant_step(context, db) as (tid, conn):
        name = tenant_name(conn, tid)
        results = run_exports(conn, tid, dest, run_id=context.run.run_id, attempts=exports.attempts,
                              backoff_seconds=exports.backoff_seconds, min_sizes=exports.min_sizes)
    failed = [r for r in results if r.status == "failed"]
    for r in results:
        msg = f"{r.audience} -> {r.format}: {r.status}, {r.rows} rows, {r.attempts} attempt(s)"
        # a skip (below a platform's minimum, no destinations) is expected and shown in the metadata; failures are not
        log = context.log.error if r.status == "failed" else context.log.info
        log(msg + (f" ({r.error})" if r.error else ""))
    return dg.MaterializeResult(
        metadata={
            "tenant": name,
            "destination": dest.name,
            "exports": len(results),
            "succeeded": sum(r.status == "succeeded" for r in results),
            "skipped": sum(r.status == "skipped" for r in results),
            "failed": len(failed),
            "files": md_table(["audience", "format", "status", "rows", "attempts", "file", "note"], [
                (r.audience, r.format, r.status, r.rows, r.attempts, r.file or "-", r.error or r.note or "")
                for r in results
            ]),
            "seconds": round(t.seconds, 3),
        },
        check_results=[dg.AssetCheckResult(
            check_name="exports_delivered", passed=not failed,
            metadata={"failed": ", ".join(f"{r.audience}/{r.format}" for r in failed) or "none"},
        )],
    )


@lookalike_asset(
    table="lookalike_destination_sync",
    code=[sys.modules[__name__], destination_pipeline, destinations, rules],
    rows="synced",
    partitions_def=tenant_partitions,
    deps=[audience_memberships],
    group_name=GROUP,
    kinds={"python"},
    description="Each published audience synced to the destinations its rules name ({\"destination\": NAME}): the "
    "first sync sends every treatment member, later ones only who joined and who left (suppressed, erased, no "
    "longer similar); batches are recorded as sent, so a killed sync resumes without sending an add twice or "
    "forgetting a remove. Credentials are unsealed here and appear in no metadata or log.",
    check_specs=[dg.AssetCheckSpec("destinations_synced", asset="destination_syncs",
                                   description="No sync failed and no destination is paused.")],
)
def destination_syncs(context: dg.AssetExecutionContext, db: LookalikeDatabase,
                      lookalike: LookalikeConfig) -> dg.MaterializeResult:
    from lookalike_assets.settings import get_settings

    t = Timer()
    with tenant_step(context, db) as (tid, conn):
        name = tenant_name(conn, tid)
        results = destination_pipeline.sync_tenant(
            conn, tid, get_settings().secret_value(), run_id=context.run.run_id,
            attempts=lookalike.destination_attempts, backoff=lookalike.destination_backoff_seconds,
            pause_after=lookalike.destination_pause_after, batch_size=lookalike.destination_batch_size)
    for r in results:
        log = context.log.error if r.status == "failed" else context.log.info
        log(f"{r.audience} -> {r.destination}: {r.status}, +{r.added} -{r.removed} in {r.batches} batch(es)"
            + (f" ({r.error})" if r.error else ""))
    failed = [r for r in results if r.status == "failed"]
    paused = [r for r in results if r.paused]
    return dg.MaterializeResult(
        metadata={
            "tenant": name,
            "syncs": len(results),
            "synced": sum(r.added + r.removed for r in results),
            "added": sum(r.added for r in results),
            "removed": sum(r.removed for r in results),
            "failed": len(failed),
            "paused": len(paused),
            "destinations": md_table(["audience", "destination", "status", "added", "removed", "platform received",
                                      "note"], [
                (r.audience, r.destination, r.status, r.added, r.removed,
                 "-" if r.received is None else r.received, r.error or "") for r in results]),
            "seconds": round(t.seconds, 3),
        },
        check_results=[dg.AssetCheckResult(
            check_name="destinations_synced", passed=not failed and not paused,
            metadata={"failed": ", ".join(f"{r.audience}/{r.destination}" for r in failed) or "none",
                      "paused": ", ".join(sorted({r.destination for r in paused})) or "none"},
        )],
    )
