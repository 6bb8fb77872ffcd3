"""The alerts sensor: one message per failed run and per failed asset check of a finished run, each once."""

import json

import dagster as dg

from lookalike_assets.defs.alerts.resources import AlertsResource
from lookalike_assets.defs.jobs import tenant_refresh_job
from lookalike_assets.defs.partitions import TENANTS_PARTITION
from lookalike_assets.domain.alerts import AlertError, Notification, check_failed, run_failed

FINISHED = (dg.DagsterEventType.RUN_SUCCESS, dg.DagsterEventType.RUN_FAILURE)
BATCH = 200
MAX_PENDING = 500  # undelivered alerts kept for the next tick at most (the oldest are dropped, and said so)


def notifications_for_run(instance: dg.DagsterInstance, run_id: str, ui_url: str) -> list[Notification]:
    """What a finished run has to say: its failure (the failed steps and the error's class), and every asset
    check that did not pass. Names only: never an error message or a metadata value."""
    run = instance.get_run_by_id(run_id)
    if run is None:
        return []
    tenant = run.tags.get("dagster/partition")
    if run.job_name == tenant_refresh_job.name and tenant and \
            tenant not in set(instance.get_dynamic_partitions(TENANTS_PARTITION)):
        return []  # the tenant was deleted while its run was queued or going: its failure is expected, not news
    out = []
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
        ev = entry.dagster_event.event_specific_data
        if ev.passed:
            continue
        out.append(check_failed(ui_url, run_id, ev.partition or tenant, list(ev.asset_key.path), ev.check_name,
                                ev.severity.value, ev.description))
    if run.status == dg.DagsterRunStatus.FAILURE:
        failures = instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
        steps = sorted({e.step_key for e in failures if e.step_key})
        error = next((e.dagster_event.step_failure_data.error for e in failures
                      if e.dagster_event.step_failure_data and e.dagster_event.step_failure_data.error), None)
        while error is not None and error.cause is not None:  # the root cause, not Dagster's wrapper
            error = error.cause
        out.append(run_failed(ui_url, run_id, run.job_name, tenant, steps, error.cls_name if error else None))
    return out


@dg.sensor(minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Sends one message per failed run and per failed asset check (of the runs that finished since "
           "its last tick) to the alert webhook (LOOKALIKE_ALERT_WEBHOOK_URL, Slack-compatible JSON) or the log: "
           "the tenant, what failed and a link to it in the UI, never a person's data. Each alert once (its "
           "dedupe key is kept); an undelivered one is sent again on the next tick.")
def alerts_sensor(context: dg.SensorEvaluationContext, alerts: AlertsResource):
    state = json.loads(context.cursor) if context.cursor else {}
    instance = context.instance
    cursors = dict(state.get("after") or {})
    if not cursors:  # the first tick: from now on (not every failure in the instance's history)
        for t in FINISHED:
            cursors[t.value] = instance.fetch_run_status_changes(t, limit=1).cursor
        context.update_cursor(json.dumps({"after": cursors, "pending": [], "sent": []}))
        return dg.SkipReason("watching runs that finish from now on")
    pending = [Notification(**n) for n in state.get("pending") or []]
    sent = list(state.get("sent") or [])
    for t in FINISHED:
        while True:
            res = instance.fetch_run_status_changes(t, limit=BATCH, cursor=cursors.get(t.value), ascending=True)
            for record in res.records:
                pending += notifications_for_run(instance, record.event_log_entry.run_id, alerts.ui_url)
            cursors[t.value] = res.cursor
            if not res.has_more:
                break
    destination = alerts.destination()
    delivered, failed = 0, []
    for n in pending:
        if n.dedupe_key in sent:
            continue
        try:
            destination.send(n)
        except AlertError as exc:
            context.log.warning(f"alert {n.dedupe_key} not delivered: {exc}")
            failed.append(n)
            continue
        sent.append(n.dedupe_key)
        delivered += 1
    if len(failed) > MAX_PENDING:
        context.log.warning(f"{len(failed) - MAX_PENDING} undelivered alerts dropped (the oldest)")
        failed = failed[-MAX_PENDING:]
    context.update_cursor(json.dumps({"after": cursors, "sent": sent[-2000:],
                                      "pending": [n.__dict__ for n in failed]}))
    if not delivered and not failed:
        return dg.SkipReason("nothing failed")
    return dg.SkipReason(f"{delivered} alert(s) sent to the {destination.name}"
                         + (f", {len(failed)} to retry" if failed else ""))
