"""ranking_model per tenant partition, its weekly retraining and the early retrain sensor."""

import json

import dagster as dg

from lookalike_assets.defs.audiences.assets import candidate_pools
from lookalike_assets.defs.helpers import md_table, tenant_name, tenant_of
from lookalike_assets.defs.jobs import TENANT_TAG
from lookalike_assets.defs.partitions import TENANTS_PARTITION, tenant_partitions
from lookalike_assets.defs.resources import LookalikeConfig, LookalikeDatabase
from lookalike_assets.pipeline.changes import read_changes
from lookalike_assets.pipeline.ranking import RankingConfig, train_and_promote


@dg.asset(
    partitions_def=tenant_partitions,
    deps=[candidate_pools, "conversion_facts"],
    group_name="audiences",
    kinds={"python", "lightgbm"},
    description="A LightGBM ranker per tenant: positive-unlabelled (seeds against other leads) until outcomes "
    "exist, then on conversion outcomes with a time-based holdout. A new model is compared with the champion "
    "on the same holdout and promoted only if better; candidates get the champion's rank_score. Without a "
    "model, audiences rank by similarity.",
)
def ranking_model(context: dg.AssetExecutionContext, db: LookalikeDatabase,
                  lookalike: LookalikeConfig) -> dg.MaterializeResult:
    tid = tenant_of(context)
    cfg = RankingConfig(min_seeds=lookalike.ranking_min_seeds, min_outcomes=lookalike.ranking_min_outcomes)
    with db.tenant_session(tid) as conn:
        name = tenant_name(conn, tid)
        res = train_and_promote(conn, tid, cfg, run_id=context.run_id)
    if res.status == "skipped":
        context.log.info(f"{name}: no model ({res.reason})")
    else:
        context.log.info(f"{name}: {res.kind} model v{res.version} {res.status}; challenger {res.challenger}, "
                         f"champion on the same holdout {res.champion}; {res.scored} candidates scored "
                         f"in {res.seconds:.1f}s")
    def row(label, ev):
        return (label, "-", "-") if not ev else (label, ev["auc"], ev["lift_at_10"])

    return dg.MaterializeResult(metadata={
        "tenant": name,
        "status": res.status,
        "kind": res.kind or "-",
        "version": res.version or 0,
        "reason": res.reason or "",
        "champion_vs_challenger": md_table(["model", "holdout AUC", "holdout lift@10"],
                                           [row("challenger (this run)", res.challenger),
                                            row("champion before this run", res.champion)]),
        "influential_factors": md_table(["feature", "share of gain"], list(res.importances.items())[:15]),
        "excluded_features": ", ".join(res.excluded_features) or "none",
        "candidates_scored": res.scored,
        "seconds": round(res.seconds, 2),
    })


ranking_retrain_job = dg.define_asset_job(
    "ranking_retrain", selection=dg.AssetSelection.assets(ranking_model).downstream(),
    partitions_def=tenant_partitions,
    description="Retrain a tenant's ranker, then refresh its memberships and exports.")


@dg.schedule(cron_schedule="0 3 * * 0", job=ranking_retrain_job, execution_timezone="UTC",
             default_status=dg.DefaultScheduleStatus.RUNNING,
             description="Weekly (Sunday 03:00 UTC): retrain every tenant's ranking model.")
def weekly_ranking_retrain(context: dg.ScheduleEvaluationContext):
    week = context.scheduled_execution_time.strftime("%G-W%V")
    tenants = context.instance.get_dynamic_partitions(TENANTS_PARTITION)
    if not tenants:
        return dg.SkipReason("no tenant partitions yet")
    return [dg.RunRequest(partition_key=t, run_key=f"retrain:{week}:{t}", tags={TENANT_TAG: t,
                          "lookalike/trigger": "weekly"}) for t in tenants]


@dg.sensor(job=ranking_retrain_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Counts each tenant's new conversion events in the change log and retrains that tenant early "
           "once they reach the threshold (LOOKALIKE_RETRAIN_AFTER_CONVERSIONS).")
def ranking_feedback_sensor(context: dg.SensorEvaluationContext, db: LookalikeDatabase,
                            lookalike: LookalikeConfig) -> dg.SensorResult:
    state = json.loads(context.cursor) if context.cursor else {"horizon": None, "pending": {}}
    with db.connect() as conn:
        batch = read_changes(conn, state["horizon"])
    pending: dict[str, int] = dict(state["pending"])
    for tenant, entities in batch.by_tenant.items():
        if entities.get("conversion"):
            pending[tenant] = pending.get(tenant, 0) + entities["conversion"]
    due = sorted(t for t, n in pending.items() if n >= lookalike.retrain_after_conversions)
    requests = [dg.RunRequest(partition_key=t, run_key=f"feedback:{t}:{batch.horizon}",
                              tags={TENANT_TAG: t, "lookalike/trigger": "conversions",
                                    "lookalike/new_conversions": str(pending[t])}) for t in due]
    for t in due:
        pending.pop(t)
    return dg.SensorResult(run_requests=requests, cursor=json.dumps({"horizon": batch.horizon, "pending": pending}),
                           skip_reason=None if requests else f"{sum(pending.values())} new conversion(s) pending")
