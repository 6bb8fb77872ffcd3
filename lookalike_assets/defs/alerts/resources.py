"""Where alerts go: a chat webhook (LOOKALIKE_ALERT_WEBHOOK_URL) or, without one, the log."""

import dagster as dg
from pydantic import Field

from lookalike_assets.defs.resources import SettingsResource, configured, setting
from lookalike_assets.domain.alerts import Destination, LogDestination, WebhookDestination


class AlertsResource(SettingsResource):
    webhook_url: str | None = setting("alert_webhook_url")
    ui_url: str = setting("ui_url")
    attempts: int = Field(default=3, ge=1, le=10, description="Attempts to deliver one alert per sensor tick.")
    backoff_seconds: float = Field(default=1.0, ge=0, description="Wait before the second attempt (doubling).")

    def destination(self) -> Destination:
        if not self.webhook_url:
            return LogDestination()
        return WebhookDestination(self.webhook_url, attempts=self.attempts, backoff=self.backoff_seconds)


def alerts_resources(env_vars: bool = True) -> dict[str, dg.ConfigurableResource]:
    return {"alerts": AlertsResource(webhook_url=configured("alert_webhook_url", env_vars),
                                     ui_url=configured("ui_url", env_vars))}


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(resources=alerts_resources())
