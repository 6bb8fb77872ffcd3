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
    encoder: Literal["minilm", "minilm-fp32", "minilm-bf16", "minilm-onnx", "minilm-openvino", "minilm-openvino-bf16",
                     "hashing", "none"] = Field(
        default="minilm",
        description="Text encoder: all-MiniLM-L6-v2 (torch fp32 on a GPU; on a CPU the fastest backend that keeps "
        "the vectors, chosen once per machine by calibration; or one pinned backend), a light hashing encoder, or "
        "none (tabular only).",
    )
    alert_webhook_url: str | None = Field(default=None, description="Incoming webhook (Slack-compatible JSON) the "
                                          "alerts sensor posts failed runs and checks to; unset: the log.")
    ui_url: str = Field(default="http://127.0.0.1:3000", description="The Dagster UI's address, for links in alerts.")
    encoder_batch_size: int = Field(default=256, ge=1, description="Texts per forward pass of the text encoder.")
    embed_chunk_size: int = Field(default=512, ge=1, description="Leads read, encoded and written together when "
                                  "embedding (one chunk at a time in memory).")
    pool_size: int = Field(default=2000, ge=1, description="Candidates per audience when the audience sets no "
                           "metadata.pool_size.")
    ann_index_min_leads: int = Field(default=20_000, ge=1, description="A tenant with this many embedded leads gets "
                                     "an approximate (HNSW) index of its own for the API's similar-leads search "
                                     "(dropped below half of it); smaller tenants are searched exactly.")
    analyze_after_rows: int = Field(default=10_000, ge=1, description="After a step writes this many rows of a table "
                                    "(leads, features, embeddings, a pool stage), it refreshes the table's planner "
                                    "statistics (ANALYZE through lookalike_analyze).")
    min_seeds: int = Field(default=3, ge=1, description="Audiences with fewer live seeds are skipped (their last "
                           "profile and pool are kept).")
    warn_seeds: int = Field(default=20, ge=1, description="Fewer live seeds than this: the audience is built with a "
                            "warning.")
    stream_batch: int = Field(default=20000, ge=100, description="Vectors per batch when streaming a tenant's "
                              "embeddings.")
    ranking_min_seeds: int = Field(default=10, ge=3, description="Fewer embedded seeds: no ranking model, "
                                   "similarity chooses and orders.")
    ranking_min_outcomes: int = Field(default=100, ge=10, description="Exposed leads (exported in an audience) "
                                      "needed before a model learns from outcomes rather than seeds alone.")
    retrain_after_conversions: int = Field(
        default=200, ge=1, description="New conversion events of a tenant that trigger an early retraining."
    )
    lock_wait_seconds: float = Field(default=600.0, ge=0, description="How long a run waits for another run of the "
                                     "same tenant before it fails naming it.")
    lease_ttl_seconds: float = Field(default=120.0, ge=10, description="A tenant lease whose heartbeat stopped this "
                                     "long ago (a killed run) is free for the next run.")
    export_attempts: int = Field(default=3, ge=1, le=20, description="Attempts to deliver one export file.")
    export_backoff_seconds: float = Field(default=1.0, ge=0, description="Wait before the second attempt (doubling "
                                          "after each).")
    export_min_sizes: dict[str, int] = Field(default_factory=dict, description="Per-format minimum audience size, as "
                                             "JSON, e.g. {\"meta\": 100}: a smaller audience is not exported.")
    destination_attempts: int = Field(default=4, ge=1, le=20, description="Tries of one request to a destination's "
                                      "platform (HTTP 429 and 5xx and the platform's throttling codes are retried).")
    destination_backoff_seconds: float = Field(default=1.0, ge=0, description="Wait before the second try of a "
                                               "destination request (doubling after each), unless the platform "
                                               "says how long (Retry-After).")
    destination_pause_after: int = Field(default=3, ge=1, description="Failed syncs in a row after which a "
                                         "destination is paused (until `lookalike destinations update --resume`).")
    destination_batch_size: int = Field(default=10_000, ge=1, description="Members per request to a destination "
                                        "(at most its platform's limit: Meta 10,000).")
    tenant_connections: int = Field(default=20, ge=1, le=1000, description="Connections all of one tenant's own "
                                    "logins (BI and app) may hold at once, shared among its logins.")
    tenant_lock_timeout_seconds: float = Field(default=5.0, gt=0, description="A tenant login's lock_timeout: how "
                                               "long its statements wait for a lock before failing.")
    tenant_statement_timeout_seconds: float = Field(default=120.0, gt=0, description="A tenant login's "
                                                    "statement_timeout.")
    tenant_idle_transaction_seconds: float = Field(default=30.0, gt=0, description="A tenant login's session idle "
                                                   "in an open transaction this long is ended (its locks go).")
    stall_grace_seconds: float = Field(default=3.0, gt=0, description="How long a platform session (the marts "
                                       "build) waits on a lock a tenant's login holds before that session is ended.")
    events_since: date = Field(default=date(2025, 1, 1), description="The first day conversion events may fall on "
                               "(older events are quarantined): the first daily partition of conversion_facts.")
    metadata_max_bytes: int = Field(default=64 * 1024, ge=256, description="Largest metadata of one conversion "
                                    "event (JSON); larger ones are quarantined.")
    min_embedding_coverage: float = Field(default=0.99, ge=0, le=1, description="Check embedding_coverage (error): "
                                          "the share of a tenant's leads with a current embedding below this.")
    max_pool_shrink: float = Field(default=0.5, gt=0, le=1, description="Check pool_not_shrunk (warn): a pool that "
                                   "lost more than this share of its candidates since the last refresh.")
    conversion_drop_tolerance: float = Field(default=0.5, gt=0, lt=1, description="Check conversion_rate_steady "
                                             "(warn): an audience's conversion rate of the last 7 days below its "
                                             "trailing 4 weeks' rate by more than this share.")
    conversion_min_expected: float = Field(default=10.0, gt=0, description="conversion_rate_steady judges an "
                                           "audience only when its trailing rate predicts at least this many "
                                           "conversions in the last 7 days.")
    challenger_losses: int = Field(default=3, ge=1, description="Check champion_not_outperformed (warn): the "
                                   "champion lost to its challenger (not clearly enough to be replaced) this many "
                                   "trainings in a row.")
    stale_after_days: float = Field(default=7.0, gt=0, description="Check inputs_fresh (warn): no lead change, or "
                                    "(once audiences were exported) no conversion event, for more days than this.")

    @property
    def pgdata(self) -> Path:
        return self.home / "pg"

    @property
    def exports_dir(self) -> Path:
        return self.home / "exports"

    @property
    def uploads_dir(self) -> Path:
        """Files people uploaded in the studio, kept between their preview and their import (a day at most)."""
        return self.home / "uploads"

    @property
    def landing_dir(self) -> Path:
        return self.home / "landing" / "conversions"

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
