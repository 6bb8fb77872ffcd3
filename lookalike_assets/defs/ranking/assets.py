"""ranking_model per tenant partition, its weekly retraining and the early retrain sensor."""

import sys

import dagster as dg

from lookalike_assets.db.connect import CHANGES_ROLE
from lookalike_assets.defs.audiences.assets import seed_profiles
from lookalike_assets.defs.helpers import (
    ProgressLog,
    check_result,
    lookalike_asset,
    md_table,
    tenant_name,
    tenant_step,
)
from lookalike_assets.defs.partitions import TENANTS_PARTITION, tenant_partitions
from lookalike_assets.defs.resources import LookalikeConfig, LookalikeDatabase
from lookalike_assets.defs.tenants.sensors import schedule_requests, tenant_request, tenant_slugs, waiting_tenants
from lookalike_assets.domain import health as domain_health
from lookalike_assets.domain import ranking
from lookalike_assets.domain.ranking import factors_in_words
from lookalike_assets.pipeline import health
from lookalike_assets.pipeline import ranking as ranking_pipeline
from lookalike_assets.pipeline.changes import conversions_since_training
from lookalike_assets.pipeline.ranking import RankingConfig, train_and_promote


@lookalike_asset(
    table="lookalike_lead_score",
    code=[sys.modules[__name__], ranking_pipeline, ranking, health, domain_health],
    rows="leads_scored",
    partitions_def=tenant_partitions,
    # the ranker learns from every day's facts (daily partitions) of its tenant
    deps=[seed_profiles, dg.AssetDep("conversion_facts", partition_mapping=dg.AllPartitionMapping())],
    group_name="audiences",
    kinds={"python", "lightgbm"},
    description="A LightGBM ranker per tenant: positive-unlabelled (seeds against other leads) until outcomes "
    "exist, then on conversion outcomes (exports and conversions, kept whatever pools become) with a time-based "
    "holdout. A new model is compared with the champion on the same holdout and promoted only on clear evidence "
    "(a large enough holdout and a bootstrap interval of the AUC difference above zero). The champion then "
    "scores every embedded lead of the tenant (lookalike_lead_score): candidate_pools takes each audience's top "
    "N by that score. Without a model, pools and audiences go by similarity.",
    check_specs=[dg.AssetCheckSpec("champion_not_outperformed", asset="ranking_model",
                                   description="The champion did not lose to its challenger (on the same holdout, "
                                   "without clear enough evidence to be replaced) LOOKALIKE_CHALLENGER_LOSSES "
                                   "trainings in a row.")],
)
def ranking_model(context: dg.AssetExecutionContext, db: LookalikeDatabase,
                  lookalike: LookalikeConfig) -> dg.MaterializeResult:
    cfg = RankingConfig(min_seeds=lookalike.ranking_min_seeds, min_outcomes=lookalike.ranking_min_outcomes)
    with tenant_step(context, db) as (tid, conn):
        name = tenant_name(conn, tid)
        res = train_and_promote(conn, tid, cfg, run_id=context.run.run_id,
                                progress=ProgressLog(context, "leads scored"))
        streak = health.champion_finding(conn, tid, lookalike.health())
    if res.status == "skipped":
        context.log.info(f"{name}: no model ({res.reason})")
    else:
        context.log.info(f"{name}: {res.kind} model v{res.version} {res.status}; challenger {res.challenger}, "
                         f"champion on the same holdout {res.champion}; {res.reason}")
    if res.scored:
        context.log.info(f"{name}: {res.scored} leads scored by the champion in {res.scoring_seconds:.1f}s "
                         f"({res.scored / max(res.scoring_seconds, 1e-9):,.0f}/s)")

    def row(label, ev):
        if not ev:
            return (label, "-", "-", "-", "-")
        lo, hi = ev.get("auc_ci") or ("-", "-")
        return (label, ev["auc"], f"{lo} to {hi}", ev["lift_at_10"], f"{ev['rows']} ({ev['positives']} positive)")

    return dg.MaterializeResult(metadata={
        "tenant": name,
        "status": res.status,
        "kind": res.kind or "-",
        "version": res.version or 0,
        "reason": res.reason or "",
        "decision": res.decision["reason"] if res.decision else (res.reason or ""),
        "champion_vs_challenger": md_table(["model", "holdout AUC", "95% interval", "holdout lift@10", "holdout rows"],
                                           [row("challenger (this run)", res.challenger),
                                            row("champion before this run", res.champion)]),
        "influential_factors": md_table(["factor", "share of gain"], factors_in_words(res.importances, 15)),
        "excluded_features": ", ".join(res.excluded_features) or "none",
        "leads_scored": res.scored,
        "scoring_seconds": round(res.scoring_seconds, 2),
        "seconds": round(res.seconds, 2),
    }, check_results=[check_result("champion_not_outperformed", streak)])


ranking_retrain_job = dg.define_asset_job(
    "ranking_retrain",
    selection=dg.AssetSelection.assets(ranking_model).downstream() & dg.AssetSelection.groups("audiences"),
    executor_def=dg.in_process_executor,
    description="Retrain a tenant's ranker, then refresh what depends on it: its pools (chosen by the new "
    "champion), memberships and exports.")


@dg.schedule(cron_schedule="0 3 * * 0", job=ranking_retrain_job, execution_timezone="UTC",
             default_status=dg.DefaultScheduleStatus.RUNNING,
             description="Weekly (Sunday 03:00 UTC): retrain every tenant's ranking model.")
def weekly_ranking_retrain(context: dg.ScheduleEvaluationContext, db: LookalikeDatabase):
    week = context.scheduled_execution_time.strftime("%G-W%V")
    return schedule_requests(context, db, f"retrain:{week}", "weekly")


@dg.sensor(job=ranking_retrain_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Counts each tenant's conversion events since its last ranking training (change log) and "
           "retrains that tenant early once they reach LOOKALIKE_RETRAIN_AFTER_CONVERSIONS.")
def ranking_feedback_sensor(context: dg.SensorEvaluationContext, db: LookalikeDatabase,
                            lookalike: LookalikeConfig) -> dg.SensorResult:
    with db.connect(CHANGES_ROLE) as conn:
        pending = conversions_since_training(conn)
        slugs = tenant_slugs(conn) if pending else {}
    known = set(context.instance.get_dynamic_partitions(TENANTS_PARTITION))
    waiting = waiting_tenants(context.instance, ranking_retrain_job.name, slugs)
    due = sorted(t for t, (n, _w) in pending.items()
                 if n >= lookalike.retrain_after_conversions and slugs.get(t) in known and t not in waiting)
    # one request per training watermark: once the tenant retrained, its count starts again from zero
    requests = [tenant_request(t, slugs[t], f"feedback:{slugs[t]}:{pending[t][1]}",
                               **{"lookalike/trigger": "conversions", "lookalike/new_conversions": str(pending[t][0])})
                for t in due]
    waiting_total = sum(n for t, (n, _w) in pending.items() if t not in due)
    return dg.SensorResult(run_requests=requests,
                           skip_reason=None if requests else f"{waiting_total} conversion(s) since the last trainings")
