from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import psycopg
from pydantic import Field

from lookalike_assets.db.connect import PIPELINE_ROLE, admin_connection, database_url, service_connection
from lookalike_assets.domain.encoders import TextEncoder, get_encoder
from lookalike_assets.domain.exports import Destination, LocalFolderDestination
from lookalike_assets.settings import get_settings


class LookalikeDatabase(dg.ConfigurableResource):
    """lookalike's PostgreSQL. Empty URL: LOOKALIKE_DATABASE_URL, else the embedded server.

    The URL is the owner's; asset code connects as the service login ``lookalike_pipeline`` (sensors as
    ``lookalike_changes``) and works on tenant data inside ``tenant_transaction`` (transaction-local tenant).
    ``admin()`` is the owner's connection, for the dbt build only.
    """

    database_url: str | None = Field(default=None, description="Owner URL; empty: from the environment.")
    lock_wait_seconds: float = Field(default=600.0, ge=0,
                                     description="How long a run waits for another run of the same tenant.")
    lease_ttl_seconds: float = Field(default=120.0, ge=10,
                                     description="A tenant lease whose heartbeat stopped this long ago (a killed "
                                     "run) is free for the next run.")

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


class ExportDestinationResource(dg.ConfigurableResource):
    """Where export files go: a local (or mounted) folder by default. Subclass and override ``get`` for
    another Destination (see lookalike_assets.domain.exports.Destination)."""

    folder: str | None = Field(default=None, description="Empty: <LOOKALIKE_HOME>/exports.")
    attempts: int = Field(default=3, ge=1, le=20)
    backoff_seconds: float = Field(default=1.0, ge=0)
    min_sizes: dict[str, int] = Field(default_factory=dict, description="Per-format minimum audience sizes.")

    def get(self) -> Destination:
        return LocalFolderDestination(self.folder or get_settings().exports_dir)


class TextEncoderResource(dg.ConfigurableResource):
    """The text encoder: 'minilm' (all-MiniLM-L6-v2, offline), or explicitly 'hashing' or 'none'."""

    encoder: str = Field(default="minilm")
    batch_size: int = Field(default=256, ge=1)

    def get(self) -> TextEncoder:
        return get_encoder(self.encoder, self.batch_size)


class LookalikeConfig(dg.ConfigurableResource):
    pool_size: int = Field(default=2000, ge=1, description="Default pool size when an audience sets none.")
    min_seeds: int = Field(default=3, ge=1)
    warn_seeds: int = Field(default=20, ge=1)
    stream_batch: int = Field(default=20000, ge=100)
    embed_batch: int = Field(default=512, ge=1)
    ranking_min_seeds: int = Field(default=10, ge=3)
    ranking_min_outcomes: int = Field(default=100, ge=10)
    retrain_after_conversions: int = Field(default=200, ge=1)


def default_resources() -> dict:
    s = get_settings()
    return {
        "db": LookalikeDatabase(database_url=s.database_url),
        "encoder": TextEncoderResource(encoder=s.encoder, batch_size=s.embed_batch_size),
        "lookalike": LookalikeConfig(pool_size=s.pool_size, min_seeds=s.min_seeds, warn_seeds=s.warn_seeds,
                                     stream_batch=s.stream_batch, ranking_min_seeds=s.ranking_min_seeds,
                                     retrain_after_conversions=s.retrain_after_conversions),
        "exports": ExportDestinationResource(),
    }
