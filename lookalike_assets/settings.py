"""Configuration, read from environment variables (prefix ``LOOKALIKE_``) or a ``.env`` file.

Everything that runs (Dagster resources, the dbt profile, the CLI, the tests) takes its settings here,
so one variable, ``LOOKALIKE_DATABASE_URL``, moves all of it to an external PostgreSQL.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_home() -> Path:
    # In a source checkout (the normal case: `make up`), state lives in <repo>/.lookalike.
    repo = Path(__file__).resolve().parent.parent
    if (repo / "pyproject.toml").exists():
        return repo / ".lookalike"
    return Path.cwd() / ".lookalike"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOOKALIKE_", env_file=".env", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="Owner/admin URL of an external PostgreSQL with pgvector. Unset: the embedded pgserver.",
    )
    home: Path = Field(default_factory=_default_home, description="Local state: embedded database, exports.")
    secret: SecretStr | None = Field(
        default=None,
        description="The secret the service logins' passwords are derived from (every process of a deployment must "
        "share it). Unset: a random secret kept in <home>/secret (mode 0600), made on first use.",
    )
    encoder: Literal["minilm", "minilm-onnx", "minilm-fp32", "hashing", "none"] = Field(
        default="minilm",
        description="Text encoder: all-MiniLM-L6-v2 (int8 ONNX on CPU, torch fp32 on a GPU; or pinned), a light "
        "hashing encoder, or none (tabular only).",
    )
    embed_batch_size: int = 256
    pool_size: int = Field(default=2000, ge=1, description="Default candidate pool size per audience.")
    min_seeds: int = Field(default=3, ge=1, description="Audiences with fewer live seeds are skipped.")
    warn_seeds: int = Field(default=20, ge=1, description="Fewer live seeds than this gives a warning.")
    stream_batch: int = Field(default=20000, ge=100, description="Rows per batch when streaming vectors.")
    retrain_after_conversions: int = Field(
        default=200, ge=1, description="New conversion events of a tenant that trigger an early retraining."
    )
    ranking_min_seeds: int = Field(default=10, ge=3, description="Below this, no ranking model: similarity ranks.")
    events_since: date = Field(default=date(2025, 1, 1), description="The first day conversion events may fall on "
                               "(older events are quarantined): the first daily partition of conversion_facts.")
    metadata_max_bytes: int = Field(default=64 * 1024, ge=256, description="Largest metadata of one conversion "
                                    "event (JSON); larger ones are quarantined.")

    @property
    def pgdata(self) -> Path:
        return self.home / "pg"

    @property
    def exports_dir(self) -> Path:
        return self.home / "exports"

    def secret_value(self) -> str:
        """LOOKALIKE_SECRET, or the secret kept in <home>/secret (made on first use, readable by its owner only)."""
        if self.secret is not None and self.secret.get_secret_value():
            return self.secret.get_secret_value()
        import os
        import secrets

        path = self.home / "secret"
        if not path.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process made it first
                pass
            else:
                with os.fdopen(fd, "w") as f:
                    f.write(secrets.token_urlsafe(32))
        return path.read_text().strip()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
