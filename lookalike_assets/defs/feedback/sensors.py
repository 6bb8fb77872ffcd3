"""Sensors of the feedback loop: files in the landing folder, and days that got conversion events."""

import hashlib
import json
from datetime import date, datetime, timezone

import dagster as dg

from lookalike_assets.db.connect import CHANGES_ROLE, role_transaction
from lookalike_assets.db.queries import Q
from lookalike_assets.defs.feedback.assets import conversion_days, conversion_facts, landed_conversions
from lookalike_assets.defs.feedback.resources import LandingFolder
from lookalike_assets.defs.resources import LookalikeDatabase

LANDING_TAG = "lookalike/landing_files"
MAX_LANDING_ATTEMPTS = 3

ingest_conversions_job = dg.define_asset_job("ingest_conversions", selection=[landed_conversions],
                                             description="Load conversion files from the landing folder.")
conversion_facts_job = dg.define_asset_job("conversion_facts_job", selection=[conversion_facts],
                                           description="Rebuild the conversion facts of some days.")


@dg.sensor(job=ingest_conversions_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Requests a load of the files waiting in the landing folder (processed files are moved away).")
def conversion_landing_sensor(context: dg.SensorEvaluationContext, landing: LandingFolder):
    files = landing.pending()
    if not files:
        return dg.SkipReason(f"no files in {landing.path}")
    fingerprint = [(f.name, f.stat().st_size, int(f.stat().st_mtime)) for f in files]
    key = hashlib.sha256(json.dumps(fingerprint).encode()).hexdigest()[:16]
    runs = context.instance.get_runs(filters=dg.RunsFilter(tags={LANDING_TAG: key}))
    if any(not r.is_finished for r in runs):
        return dg.SkipReason(f"the run for these {len(files)} file(s) has not finished")
    failed = [r for r in runs if r.status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)]
    if len(failed) >= MAX_LANDING_ATTEMPTS:
        return dg.SkipReason(f"{len(failed)} runs for these files failed: see the last one, fix the cause, and the "
                             "next change to the folder starts again")
    # the same files after a failed run (a database outage, a killed worker) are tried again under a new run key
    return dg.RunRequest(
        run_key=f"landing:{key}" + (f":retry{len(failed)}" if failed else ""),
        run_config={"ops": {"landed_conversions": {"config": {"files": [str(f) for f in files]}}}},
        tags={"lookalike/trigger": "landing", LANDING_TAG: key},
    )


IN_FLIGHT = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
             dg.DagsterRunStatus.STARTED]


def facts_runs_in_flight(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    """Runs not yet finished that materialize the conversion facts (the day sensor's, the CLI's, a backfill's)."""
    runs = instance.get_runs(filters=dg.RunsFilter(statuses=IN_FLIGHT), limit=500)
    return [r for r in runs if r.job_name == conversion_facts_job.name or
            (r.asset_selection and conversion_facts.key in r.asset_selection)]


def days_with_conversions(conn, after: str | None) -> tuple[dict[date, str], str]:
    """Days that got conversion events since ``after`` and whose facts were not rebuilt since (day -> the last
    event's transaction id), and the new horizon."""
    with role_transaction(conn, CHANGES_ROLE):
        horizon = Q.changes.change_horizon(conn)
        days = {r[0]: r[1] for r in Q.conversions.conversion_days_between(conn, after=after or "0", horizon=horizon)}
    return days, horizon


@dg.sensor(job=conversion_facts_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Reads the change log (as lookalike_changes) for days that got conversion events, late ones "
           "included, and requests a rebuild of those days' conversion facts (not of days rebuilt since).")
def conversion_facts_sensor(context: dg.SensorEvaluationContext, db: LookalikeDatabase
                            ) -> dg.SensorResult | dg.SkipReason:
    # a run building facts is in flight (`lookalike conversions ingest` builds the days it loaded itself): the days
    # it builds get their watermark when it ends, so this tick asks for nothing and keeps its cursor; the next one
    # asks only for days that run did not cover (issue 33 §8: every day was built twice)
    building = facts_runs_in_flight(context.instance)
    if building:
        return dg.SkipReason(f"a run building conversion facts is in flight ({building[0].run_id[:8]}): the days it "
                             "builds are not asked for again")
    with db.connect(CHANGES_ROLE) as conn:
        days, horizon = days_with_conversions(conn, context.cursor)
    first = date.fromisoformat(conversion_days.start.strftime("%Y-%m-%d"))
    today = datetime.now(timezone.utc).date()
    valid = sorted(d for d in days if first <= d <= today)
    if len(valid) < len(days):
        context.log.warning(f"ignored {len(days) - len(valid)} day(s) outside {first}..{today}")
    return dg.SensorResult(
        run_requests=[dg.RunRequest(partition_key=d.isoformat(), run_key=f"facts:{d}:{days[d]}",
                                    tags={"lookalike/trigger": "conversions"}) for d in valid],
        cursor=horizon,
        skip_reason=None if valid else "no new conversion days",
    )
