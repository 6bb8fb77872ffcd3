"""The resources every area shares: lookalike's database and the pipeline's knobs.

Each setting is declared once, in ``lookalike_assets/settings.py`` (its name, default, validation and meaning). A
resource field takes its default and description from there (``setting``), and the definitions configure it with
``dg.EnvVar`` when the environment sets the variable (``configured``): resolved when a run starts, shown as such in
the UI. Resources specific to one area live beside its assets (the encoder with the leads, the export destination
with the audiences, the landing folder with the feedback loop, dbt with the analytics).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
import psycopg
from pydantic import Field, ValidationError, field_validator
from pydantic_core import PydanticUndefined

from lookalike_assets.db.connect import PIPELINE_ROLE, admin_connection, database_url, service_connection
from lookalike_assets.pipeline.health import HealthSettings
from lookalike_assets.settings import Settings, get_settings


def setting(name: str, **constraints: Any) -> Any:
    """A resource field whose default and description are the setting's (one declaration of each)."""
    info = Settings.model_fields[name]
    if info.default is PydanticUndefined:
        return Field(default_factory=info.default_factory, description=info.description, **constraints)
    return Field(default=info.default, description=info.description, **constraints)


def configured(name: str, env_vars: bool = True) -> Any:
    """The value a deployment configures a resource field with: ``dg.EnvVar("LOOKALIKE_<NAME>")`` when that
    variable is set (resolved when a run starts), else the setting's current value (a ``.env`` file or its
    default). ``env_vars=False``: the current value always (resources used outside a run, e.g. by the CLI)."""
    env = f"LOOKALIKE_{name.upper()}"
    annotation = Settings.model_fields[name].annotation
    try:  # the environment's value is checked now, with the setting's own bounds, naming the variable
        get_settings()
    except ValidationError as exc:
        bad = sorted({f"LOOKALIKE_{str(e['loc'][0]).upper()}" for e in exc.errors() if e.get("loc")})
        raise ValueError(f"invalid setting {', '.join(bad)}: " + "; ".join(
            f"{e['msg']} (got {e.get('input')!r})" for e in exc.errors())) from None
    if env_vars and env in os.environ and annotation in (str, int, str | None):
        return dg.EnvVar.int(env) if annotation is int else dg.EnvVar(env)
    return getattr(get_settings(), name)


class SettingsResource(dg.ConfigurableResource):
    """A resource whose fields are settings. A field bound to ``dg.EnvVar.int`` holds a placeholder (0) until a
    run starts: its bounds are checked on the resolved value then (and on the environment's value when the
    definitions load, by ``configured``), never on the placeholder, which would fail ``ge=1`` and with it the
    whole code location."""

    @field_validator("*", mode="wrap")
    @classmethod
    def _bounds_after_resolution(cls, value: Any, handler: Any) -> Any:
        if isinstance(value, dg.EnvVar) or hasattr(type(value), "env_var_name"):  # EnvVar, EnvVar.int's IntEnvVar
            return value
        return handler(value)


class LookalikeDatabase(SettingsResource):
    """lookalike's PostgreSQL. Empty URL: LOOKALIKE_DATABASE_URL, else the embedded server.

    The URL is the owner's; asset code connects as the service login ``lookalike_pipeline`` (sensors as
    ``lookalike_changes``) and works on tenant data inside ``tenant_transaction`` (transaction-local tenant).
    ``admin()`` is the owner's connection, for the dbt build only.
    """

    database_url: str | None = setting("database_url")
    lock_wait_seconds: float = setting("lock_wait_seconds", ge=0)
    lease_ttl_seconds: float = setting("lease_ttl_seconds", ge=10)

    def conninfo(self) -> str:
        return self.database_url or database_url()

    @contextmanager
    def connect(self, role: str = PIPELINE_ROLE) -> Iterator[psycopg.Connection]:
        """A service login's connection (default lookalike_pipeline)."""
        with service_connection(role, self.conninfo()) as conn:
            yield conn

    @contextmanager
    def admin(self) -> Iterator[psycopg.Connection]:
        with admin_connection(self.conninfo()) as conn:
            yield conn


class LookalikeConfig(SettingsResource):
    """The pipeline's knobs (see lookalike_assets/settings.py for each)."""

    pool_size: int = setting("pool_size", ge=1)
    min_seeds: int = setting("min_seeds", ge=1)
    warn_seeds: int = setting("warn_seeds", ge=1)
    stream_batch: int = setting("stream_batch", ge=100)
    embed_chunk_size: int = setting("embed_chunk_size", ge=1)
    ann_index_min_leads: int = setting("ann_index_min_leads", ge=1)
    ranking_min_seeds: int = setting("ranking_min_seeds", ge=3)
    ranking_min_outcomes: int = setting("ranking_min_outcomes", ge=10)
    retrain_after_conversions: int = setting("retrain_after_conversions", ge=1)
    min_embedding_coverage: float = setting("min_embedding_coverage", ge=0, le=1)
    max_pool_shrink: float = setting("max_pool_shrink", gt=0, le=1)
    conversion_drop_tolerance: float = setting("conversion_drop_tolerance", gt=0, lt=1)
    conversion_min_expected: float = setting("conversion_min_expected", gt=0)
    challenger_losses: int = setting("challenger_losses", ge=1)
    stale_after_days: float = setting("stale_after_days", gt=0)
    destination_attempts: int = setting("destination_attempts", ge=1, le=20)
    destination_backoff_seconds: float = setting("destination_backoff_seconds", ge=0)
    destination_pause_after: int = setting("destination_pause_after", ge=1)
    destination_batch_size: int = setting("destination_batch_size", ge=1)

    def health(self) -> HealthSettings:
        return HealthSettings(**{f.name: getattr(self, f.name) for f in dataclasses.fields(HealthSettings)
                                 if f.name in type(self).model_fields})


def current_config(**overrides: Any) -> LookalikeConfig:
    """The pipeline's knobs as configured now (environment, ``.env``, defaults), with ``overrides``: for code that
    materializes outside the code location (the benchmarks), so a setting such as LOOKALIKE_ANALYZE_AFTER_ROWS
    reaches it as it would reach a deployment's run."""
    return LookalikeConfig(**{**{n: configured(n, False) for n in LookalikeConfig.model_fields}, **overrides})


def shared_resources(env_vars: bool = True) -> dict[str, dg.ConfigurableResource]:
    return {
        "db": LookalikeDatabase(**{name: configured(name, env_vars) for name in LookalikeDatabase.model_fields}),
        "lookalike": LookalikeConfig(**{name: configured(name, env_vars) for name in LookalikeConfig.model_fields}),
    }


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(resources=shared_resources())
