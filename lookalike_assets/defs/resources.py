from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import psycopg
from pydantic import Field

from lookalike_assets.db.connect import admin_connection, database_url
from lookalike_assets.domain.encoders import TextEncoder, get_encoder
from lookalike_assets.settings import get_settings


class LookalikeDatabase(dg.ConfigurableResource):
    """lookalike's PostgreSQL. Empty URL: LOOKALIKE_DATABASE_URL, else the embedded server.

    Asset code only ever works on tenant data inside ``tenant_transaction`` (role lookalike_pipeline,
    transaction-local tenant), whatever user the URL names.
    """

    database_url: str | None = Field(default=None, description="Owner URL; empty: from the environment.")

    def conninfo(self) -> str:
        return self.database_url or database_url()

    @contextmanager
    def connect(self) -> Iterator[psycopg.Connection]:
        with admin_connection(self.conninfo()) as conn:
            yield conn


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


def default_resources() -> dict:
    s = get_settings()
    return {
        "db": LookalikeDatabase(database_url=s.database_url),
        "encoder": TextEncoderResource(encoder=s.encoder, batch_size=s.embed_batch_size),
        "lookalike": LookalikeConfig(pool_size=s.pool_size, min_seeds=s.min_seeds, warn_seeds=s.warn_seeds,
                                     stream_batch=s.stream_batch),
    }
