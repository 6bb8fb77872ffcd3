"""Alerts: the sensor sends one Slack-compatible message per failed run and per failed check to a webhook (a local
HTTP server here), each once, with the tenant and a link, never a person's data; an undelivered one is sent on
the next tick; without a webhook, the log."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import dagster as dg
import pytest

from lookalike_assets.defs.alerts.resources import AlertsResource
from lookalike_assets.defs.alerts.sensors import alerts_sensor
from lookalike_assets.domain.alerts import AlertError, WebhookDestination, check_failed, slack_payload

PARTS = dg.StaticPartitionsDefinition(["acme-corp"])


@dg.asset(partitions_def=PARTS, check_specs=[dg.AssetCheckSpec("coverage_ok", asset="covered")])
def covered():
    return dg.MaterializeResult(check_results=[dg.AssetCheckResult(
        check_name="coverage_ok", passed=False, severity=dg.AssetCheckSeverity.WARN,
        description="embedding coverage 80 % below 95 %", metadata={"lead": "jane.doe@example.com"})])


@dg.asset(partitions_def=PARTS)
def broken():
    raise ValueError("lead jane.doe@example.com has a bad phone")


class Hook:
    def __init__(self):
        self.received: list[dict] = []
        self.refuse = 0
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if hook.refuse:
                    hook.refuse -= 1
                    self.send_response(500)
                else:
                    hook.received.append(json.loads(body))
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def hook():
    h = Hook()
    yield h
    h.server.shutdown()


def tick(instance, cursor, resource):
    ctx = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"alerts": resource})
    result = alerts_sensor(ctx)
    return ctx.cursor, result


def test_failed_runs_and_checks_reach_the_webhook_once_without_personal_data(hook):
    instance = dg.DagsterInstance.ephemeral()
    resource = AlertsResource(webhook_url=hook.url, ui_url="http://dagster.example:3000", backoff_seconds=0.01)
    cursor, first = tick(instance, None, resource)
    assert "from now on" in first.skip_message and not hook.received
    dg.materialize([covered], instance=instance, partition_key="acme-corp")
    dg.materialize([broken], instance=instance, partition_key="acme-corp", raise_on_error=False)
    cursor, result = tick(instance, cursor, resource)
    assert "2 alert(s) sent to the webhook" in result.skip_message
    texts = [m["text"] for m in hook.received]
    assert all(m["blocks"][0]["text"]["text"] == m["text"] for m in hook.received)
    check = next(t for t in texts if "coverage_ok" in t)
    assert "[acme-corp]" in check and "(warn)" in check and "embedding coverage 80 % below 95 %" in check
    assert "http://dagster.example:3000/assets/covered" in check
    run = next(t for t in texts if "run of" in t)
    assert "[acme-corp]" in run and "step broken" in run and "(ValueError)" in run and "/runs/" in run
    assert not any("jane.doe" in t or "bad phone" in t for t in texts)  # names only, never data
    cursor, again = tick(instance, cursor, resource)
    assert again.skip_message == "nothing failed" and len(hook.received) == 2


def test_an_undelivered_alert_is_sent_on_the_next_tick(hook):
    instance = dg.DagsterInstance.ephemeral()
    resource = AlertsResource(webhook_url=hook.url, ui_url="http://ui", attempts=2, backoff_seconds=0.01)
    cursor, _ = tick(instance, None, resource)
    dg.materialize([broken], instance=instance, partition_key="acme-corp", raise_on_error=False)
    hook.refuse = 2  # both attempts of this tick fail
    cursor, result = tick(instance, cursor, resource)
    assert "0 alert(s) sent to the webhook, 1 to retry" in result.skip_message and not hook.received
    cursor, result = tick(instance, cursor, resource)
    assert "1 alert(s) sent" in result.skip_message and len(hook.received) == 1
    _, result = tick(instance, cursor, resource)
    assert result.skip_message == "nothing failed"


def test_without_a_webhook_alerts_go_to_the_log(caplog):
    instance = dg.DagsterInstance.ephemeral()
    resource = AlertsResource(webhook_url=None, ui_url="http://ui")
    cursor, _ = tick(instance, None, resource)
    dg.materialize([broken], instance=instance, partition_key="acme-corp", raise_on_error=False)
    with caplog.at_level(logging.WARNING, logger="lookalike.alerts"):
        _, result = tick(instance, cursor, resource)
    assert "sent to the log" in result.skip_message
    assert any("alert:" in r.getMessage() and "run of" in r.getMessage() for r in caplog.records)


def test_a_webhook_is_an_http_url_and_the_payload_is_slacks():
    with pytest.raises(AlertError, match="must be an http"):
        WebhookDestination("file:///etc/passwd")
    n = check_failed("http://ui/", "r1", "t", ["a b", "c"], "x", "ERROR", None)
    assert n.link == "http://ui/assets/a%20b/c" and n.dedupe_key == "check:r1:a b/c:x"
    p = slack_payload(n)
    assert set(p) == {"text", "blocks"} and p["blocks"][0]["type"] == "section"


def test_a_deleted_tenants_queued_runs_are_cancelled_and_raise_no_alert():
    """Issue 33 §8: deleting a tenant left its queued run to start, fail and alert ("[acme-growth] run of
    tenant_refresh failed: step lead_features"). Its runs that have not started are cancelled; a run of a deleted
    tenant's partition that failed anyway says nothing; a live tenant's failure still alerts."""
    import uuid

    from lookalike_assets.defs.alerts.sensors import notifications_for_run
    from lookalike_assets.defs.jobs import TENANT_SLUG_TAG, cancel_runs_of_deleted_tenant
    from lookalike_assets.defs.partitions import TENANTS_PARTITION

    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(TENANTS_PARTITION, ["live-co"])

    def run(slug, status):
        rid = str(uuid.uuid4())
        instance.add_run(dg.DagsterRun(job_name="tenant_refresh", run_id=rid, status=status,
                                       tags={"dagster/partition": slug, TENANT_SLUG_TAG: slug}))
        return rid

    queued, other = run("gone-co", dg.DagsterRunStatus.NOT_STARTED), run("live-co", dg.DagsterRunStatus.NOT_STARTED)
    assert cancel_runs_of_deleted_tenant(instance, "gone-co") == [queued]
    assert instance.get_run_by_id(queued).status == dg.DagsterRunStatus.CANCELED
    assert instance.get_run_by_id(other).status == dg.DagsterRunStatus.NOT_STARTED
    failed_gone, failed_live = run("gone-co", dg.DagsterRunStatus.FAILURE), run("live-co", dg.DagsterRunStatus.FAILURE)
    assert notifications_for_run(instance, failed_gone, "http://ui") == []
    assert len(notifications_for_run(instance, failed_live, "http://ui")) == 1
