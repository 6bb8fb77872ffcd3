"""Alerts: what went wrong, said to people where they look (a chat webhook, or the log).

A ``Notification`` carries the tenant's slug, what failed (a run, or an asset check with its severity), a link to
it in the Dagster UI and a dedupe key. It never carries a person's data: only names of tenants, assets, checks and
steps, and the class of an error, never its message or any metadata value (those can quote a lead's fields).

Destinations implement ``send``: ``WebhookDestination`` posts Slack-compatible JSON (``{"text": ..., "blocks":
[...]}``, which Slack, Mattermost and most chat tools' incoming webhooks accept) with retries; ``LogDestination``
writes one log line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

log = logging.getLogger("lookalike.alerts")


class AlertError(RuntimeError):
    pass


@dataclass(frozen=True)
class Notification:
    kind: str  # "run_failed" or "check_failed"
    tenant: str | None  # the tenant's slug (the partition), None for a run of every tenant
    title: str
    detail: str
    link: str
    dedupe_key: str
    severity: str = "ERROR"  # ERROR or WARN

    def text(self) -> str:
        who = f"[{self.tenant}] " if self.tenant else ""
        return f"{'🔴' if self.severity == 'ERROR' else '🟠'} {who}{self.title}: {self.detail} <{self.link}|open in Dagster>"


def slack_payload(n: Notification) -> dict[str, Any]:
    """Slack's incoming-webhook JSON: a ``text`` fallback and a section block."""
    return {"text": n.text(), "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": n.text()}}]}


def asset_link(ui_url: str, asset_key: list[str]) -> str:
    return f"{ui_url.rstrip('/')}/assets/{'/'.join(quote(p, safe='') for p in asset_key)}"


def run_link(ui_url: str, run_id: str) -> str:
    return f"{ui_url.rstrip('/')}/runs/{quote(run_id, safe='')}"


def check_failed(ui_url: str, run_id: str, tenant: str | None, asset_key: list[str], check_name: str,
                 severity: str, description: str | None) -> Notification:
    what = "/".join(asset_key)
    return Notification("check_failed", tenant, f"check {check_name} of {what} failed ({severity.lower()})",
                        description or "see the check's metadata in the UI", asset_link(ui_url, asset_key),
                        f"check:{run_id}:{what}:{check_name}", severity)


def run_failed(ui_url: str, run_id: str, job: str, tenant: str | None, steps: list[str],
               error_class: str | None) -> Notification:
    where = f"step {', '.join(steps)}" if steps else "the run"
    cause = f" ({error_class})" if error_class else ""
    return Notification("run_failed", tenant, f"run of {job} failed", f"{where}{cause}", run_link(ui_url, run_id),
                        f"run:{run_id}")


class Destination(Protocol):
    name: str

    def send(self, n: Notification) -> None: ...


class LogDestination:
    name = "log"

    def send(self, n: Notification) -> None:
        log.warning("alert: %s", n.text())


class WebhookDestination:
    """POSTs Slack-compatible JSON to ``url``; retries a refused or failed delivery, then raises AlertError (the
    caller keeps the alert to send again)."""

    name = "webhook"

    def __init__(self, url: str, attempts: int = 3, timeout: float = 10.0, backoff: float = 1.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise AlertError(f"the alert webhook must be an http(s) URL, got {url[:40]!r}")
        self.url, self.attempts, self.timeout, self.backoff = url, attempts, timeout, backoff

    def send(self, n: Notification) -> None:
        import requests
        from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

        def post() -> None:
            r = requests.post(self.url, json=slack_payload(n), timeout=self.timeout)
            if r.status_code >= 300:
                raise AlertError(f"the webhook answered {r.status_code}")

        try:
            for attempt in Retrying(stop=stop_after_attempt(self.attempts), reraise=False,
                                    wait=wait_exponential(multiplier=self.backoff, max=30),
                                    retry=retry_if_exception_type((AlertError, requests.RequestException))):
                with attempt:
                    post()
        except RetryError as exc:
            cause = exc.last_attempt.exception()
            raise AlertError(f"alert not delivered after {self.attempts} attempts: {type(cause).__name__}: "
                             f"{str(cause)[:200]}") from None
