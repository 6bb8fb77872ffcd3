"""The landing folder applications drop conversion files into."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

from lookalike_assets.settings import get_settings


class LandingFolder(dg.ConfigurableResource):
    """Where applications drop conversion files (.csv or .jsonl); processed files move to ``processed/``."""

    folder: str | None = Field(default=None, description="Empty: <LOOKALIKE_HOME>/landing/conversions.")

    @property
    def path(self) -> Path:
        return Path(self.folder) if self.folder else get_settings().landing_dir

    @property
    def processed(self) -> Path:
        return self.path / "processed"

    @property
    def rejected(self) -> Path:
        """Files that could not be read as conversion events at all, each with a ``.reason.txt``."""
        return self.path / "rejected"

    def pending(self) -> list[Path]:
        if not self.path.exists():
            return []
        return sorted(p for p in self.path.iterdir()
                      if p.is_file() and p.suffix.lower() in (".csv", ".jsonl", ".ndjson") and not p.name.startswith("."))


def feedback_resources(env_vars: bool = True) -> dict[str, dg.ConfigurableResource]:  # noqa: ARG001 (no setting)
    return {"landing": LandingFolder()}


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(resources=feedback_resources())
