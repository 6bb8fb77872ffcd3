"""Where audience exports go."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from lookalike_assets.defs.resources import SettingsResource, configured, setting
from lookalike_assets.domain.exports import Destination, LocalFolderDestination
from lookalike_assets.settings import get_settings


class ExportDestinationResource(SettingsResource):
    """Where export files go: a local (or mounted) folder by default. Subclass and override ``get`` for
    another Destination (see lookalike_assets.domain.exports.Destination)."""

    folder: str | None = Field(default=None, description="Empty: <LOOKALIKE_HOME>/exports.")
    attempts: int = setting("export_attempts", ge=1, le=20)
    backoff_seconds: float = setting("export_backoff_seconds", ge=0)
    min_sizes: dict[str, int] = setting("export_min_sizes")

    def get(self) -> Destination:
        return LocalFolderDestination(self.folder or get_settings().exports_dir)


def audience_resources(env_vars: bool = True) -> dict[str, dg.ConfigurableResource]:
    return {"exports": ExportDestinationResource(attempts=configured("export_attempts", env_vars),
                                                 backoff_seconds=configured("export_backoff_seconds", env_vars),
                                                 min_sizes=configured("export_min_sizes", env_vars))}


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(resources=audience_resources())
