"""The feedback loop in Dagster: landing-folder conversions, daily conversion facts, performance reports."""

import re
import sys
from datetime import date
from pathlib import Path

import dagster as dg
from pydantic import Field

from lookalike_assets.db.connect import PIPELINE_ROLE, role_transaction
from lookalike_assets.db.queries import Q
from lookalike_assets.defs.feedback.resources import LandingFolder
from lookalike_assets.defs.helpers import HOURLY, lookalike_asset, md_table
from lookalike_assets.defs.resources import LookalikeDatabase
from lookalike_assets.domain import conversions
from lookalike_assets.domain.conversions import ConversionFileError
from lookalike_assets.pipeline import conversions as conversion_pipeline
from lookalike_assets.pipeline.common import Timer
from lookalike_assets.pipeline.conversions import ConversionReport, ingest_file, move_aside, rebuild_facts
from lookalike_assets.pipeline.incrementality import describe_lift
from lookalike_assets.reporting import charts, report
from lookalike_assets.reporting.charts import markdown_image
from lookalike_assets.reporting.report import build_report, write_report
from lookalike_assets.settings import get_settings

GROUP = "feedback"
MARTS = [dg.AssetKey(["marts", "mart_audience_performance_by_decile"]),
         dg.AssetKey(["marts", "mart_reach_precision_curve"]),
         dg.AssetKey(["marts", "mart_audience_summary"])]

# A whole range of days in one run (the demo's history, a backfill) is the intended use; the API is beta.

# Days of events, from the first day lookalike keeps events for (older events are quarantined when they arrive).
conversion_days = dg.DailyPartitionsDefinition(start_date=get_settings().events_since.isoformat(), end_offset=1,
                                               timezone="UTC")


class LandingConfig(dg.Config):
    files: list[str] = Field(default_factory=list, description="Files to load; empty: every pending file.")


def tenant_directory(conn) -> dict[str, str]:
    """slug or id -> tenant id, for files that name tenants either way (any service login but the app's)."""
    out = {}
    for tid, slug, _name in Q.changes.tenant_directory(conn):
        out[slug] = tid
        out[tid] = tid
    return out


@lookalike_asset(
    table="lookalike_conversion",
    code=[sys.modules[__name__], conversion_pipeline, conversions],
    group_name=GROUP,
    deps=["tenants", "lookalike_conversion"],
    kinds={"python", "postgres"},
    description="Conversion events from files dropped in the landing folder, loaded into lookalike_conversion: "
    "deduplicated by event id; unknown or other tenants' leads quarantined with the reason. A file that is not "
    "a conversion file at all is moved to rejected/ with a reason file, and the files after it still load.",
    check_specs=[dg.AssetCheckSpec("no_rejected_files", asset="landed_conversions",
                                   description="Every landing file could be read as conversion events.")],
)
def landed_conversions(context: dg.AssetExecutionContext, config: LandingConfig, db: LookalikeDatabase,
                       landing: LandingFolder) -> dg.MaterializeResult:
    files = [Path(f) for f in config.files] if config.files else landing.pending()
    files = [f for f in files if f.exists()]
    total = ConversionReport()
    rows, rejected = [], []
    with db.connect() as conn:
        tenants = tenant_directory(conn)
        for f in files:
            try:
                res = ingest_file(conn, f, tenants, done_dir=landing.processed)
            except ConversionFileError as exc:
                moved = move_aside(f, landing.rejected, str(exc))
                rejected.append((f.name, str(exc)))
                context.log.error(f"{f.name}: moved to {moved.parent.name}/: {exc}")
                continue
            total.add(res.report)
            rows.append((res.file, res.report.received, res.report.inserted, res.report.duplicates,
                         len(res.report.quarantined), res.unknown_tenant_rows))
            context.log.info(f"{res.file}: {res.report.inserted} new, {res.report.duplicates} duplicate, "
                             f"{len(res.report.quarantined)} quarantined, {res.unknown_tenant_rows} unknown tenant, "
                             f"{res.unreadable_rows} unreadable")
    reasons: dict[str, int] = {}
    for _eid, reason in total.quarantined:
        # the kind of reason, without the values it quotes (a lead's id must not reach Dagster's storage)
        key = re.sub(r"'[^']*'|\"[^\"]*\"|\b[0-9a-f]{8}-[0-9a-f-]{27}\b", "…", reason.split(" (")[0])
        reasons[key] = reasons.get(key, 0) + 1
    return dg.MaterializeResult(metadata={
        "files": md_table(["file", "rows", "inserted", "duplicates", "quarantined", "unknown tenant"], rows),
        "inserted": total.inserted,
        "duplicates": total.duplicates,
        "quarantined": len(total.quarantined),
        "quarantine_reasons": md_table(["reason", "events"], sorted(reasons.items())),
        "event_days": ", ".join(sorted(d.isoformat() for d in total.days)) or "none",
        "rejected_files": md_table(["file", "reason"], rejected) if rejected else "none",
    }, check_results=[dg.AssetCheckResult(
        check_name="no_rejected_files", passed=not rejected, severity=dg.AssetCheckSeverity.WARN,
        metadata={"rejected": ", ".join(n for n, _ in rejected) or "none"})])


@lookalike_asset(
    table="lookalike_conversion_fact",
    code=[sys.modules[__name__], conversion_pipeline],
    partitions_def=conversion_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name=GROUP,
    # a day's facts read that day's events of every tenant (the events are tenant-partitioned)
    deps=[dg.AssetDep("lookalike_conversion", partition_mapping=dg.AllPartitionMapping()), landed_conversions],
    kinds={"python", "postgres"},
    description="Per day (UTC) of the events: each conversion attributed to the candidates, and so the audiences, "
    "that picked its lead (lookalike_conversion_fact); converted candidates get status 'converted'. A day is "
    "rebuilt whole, so late events land in their day and re-runs give the same rows.",
)
def conversion_facts(context: dg.AssetExecutionContext, db: LookalikeDatabase) -> dg.MaterializeResult:
    t = Timer()
    days = [date.fromisoformat(k) for k in context.partition_keys]
    with db.connect() as conn:
        horizon = Q.changes.change_horizon(conn)  # every event below it is in the rebuilt facts
        tenant_ids = [r[0] for r in Q.changes.tenant_directory(conn)]
        facts = rebuild_facts(conn, tenant_ids, days)
        with role_transaction(conn, PIPELINE_ROLE):
            Q.locks.set_day_watermarks(conn, days=days, horizon=horizon, run_id=context.run.run_id)
        touched = [r for r in facts if r.events or r.replaced]
        span = f"{days[0]}..{days[-1]}" if len(days) > 1 else str(days[0])
        rows = [(span, r.tenant_id, r.events, r.facts, r.replaced, r.converted) for r in touched]
    events, n_facts = sum(r.events for r in touched), sum(r.facts for r in touched)
    converted = sum(r.converted for r in touched)
    context.log.info(f"{len(days)} day(s), {events} events, {n_facts} facts, {converted} newly converted candidates "
                     f"in {t.seconds:.1f}s")
    return dg.MaterializeResult(metadata={
        "days": len(days),
        "events": events,
        "facts": n_facts,
        "newly_converted": converted,
        "by_tenant": md_table(["days", "tenant", "events", "facts", "replaced", "converted"], rows[:200]),
    })


@lookalike_asset(
    table=None,
    code=[sys.modules[__name__], report, charts],
    freshness_policy=HOURLY,
    group_name="reports",
    deps=MARTS,
    kinds={"python", "html"},
    description="Per tenant, read from the marts as lookalike_bi: conversion rate by similarity decile and the "
    "reach curve as charts, and an HTML report under <LOOKALIKE_HOME>/reports/<tenant>.html.",
)
def performance_reports(context: dg.AssetExecutionContext, db: LookalikeDatabase) -> dg.MaterializeResult:
    folder = get_settings().home / "reports"
    metadata: dict = {}
    rows = []
    with db.connect() as conn:
        tenants = list(Q.changes.tenant_directory(conn))
        reports = [(slug, build_report(conn, tid, name)) for tid, slug, name in tenants]
        # charts in the metadata for the tenants with outcomes first (the UI shows a bounded number)
        reports.sort(key=lambda sr: (not sr[1].has_outcomes, sr[0]))
        lifts_rows = []
        for slug, rep in reports:
            path = write_report(rep, folder, slug)
            # the holdouts' result lives where the marts are: here, after they build (issue 33 §7)
            for r in rep.incrementality:
                if r["period"] == "all":
                    lifts_rows.append((slug, r["audience_name"], f"{float(r['holdout_percent']):g} %",
                                       r["treatment_members"], r["control_members"],
                                       describe_lift({k: (float(v) if k in LIFT_NUMBERS and v is not None else v)
                                                      for k, v in r.items()})))
            lifts = rep.top_decile_lift()
            rows.append((slug, len(rep.summary), f"{rep.base_rate:.1%}" if rep.base_rate is not None else "-",
                         rep.missing or ", ".join(f"{a}: {v:.2f}x" for a, v in lifts.items() if v is not None) or "-",
                         str(path)))
            if len(metadata) < 20:
                if rep.decile_png:
                    metadata[f"{slug}: conversion by decile"] = dg.MetadataValue.md(
                        markdown_image(rep.decile_png, f"{slug} conversion rate by decile"))
                if rep.reach_png:
                    metadata[f"{slug}: reach curve"] = dg.MetadataValue.md(markdown_image(rep.reach_png, f"{slug} reach"))
                if rep.lift_png:
                    metadata[f"{slug}: incrementality"] = dg.MetadataValue.md(
                        markdown_image(rep.lift_png, f"{slug} lift over the holdout"))
    context.log.info(f"{len(rows)} tenant report(s) under {folder}")
    return dg.MaterializeResult(metadata={
        "reports": md_table(["tenant", "audiences", "base rate", "members' top-decile lift vs base", "file"], rows),
        "folder": dg.MetadataValue.path(str(folder)),
        "incrementality": md_table(["tenant", "audience", "holdout", "treatment", "control", "lift"], lifts_rows)
        if lifts_rows else "no audience with a holdout has figures yet (conversions after the first export)",
        **metadata,
    })


LIFT_NUMBERS = ("absolute_lift", "treatment_rate", "control_rate", "ci_low", "ci_high")
