"""Reading what the health checks judge (domain/health.py), per tenant under Row-Level Security, and the step log
behind mart_pipeline_health: one row per tenant asset step (how long, succeeded or failed, the root cause's class,
rows processed, the step's numeric figures)."""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import psycopg
from psycopg.types.json import Jsonb

from lookalike_assets.db.connect import PIPELINE_ROLE, tenant_transaction
from lookalike_assets.db.queries import Q
from lookalike_assets.domain import health
from lookalike_assets.domain.conversions import CONVERSION_TYPES
from lookalike_assets.domain.health import Finding, Period, RateSeries, Training


@dataclass(frozen=True)
class HealthSettings:
    """The checks' thresholds (each declared once, in settings.py; LookalikeConfig.health() fills them)."""
    min_embedding_coverage: float
    max_pool_shrink: float
    conversion_drop_tolerance: float
    conversion_min_expected: float
    challenger_losses: int
    stale_after_days: float
    conversion_period_days: int = 7  # the latest period ...
    conversion_trailing_periods: int = 4  # ... against the four before it


def coverage_finding(leads: int, embedded: int, stale: int, cfg: HealthSettings) -> Finding:
    return health.embedding_coverage(leads, embedded, stale, cfg.min_embedding_coverage)


def pool_finding(conn: psycopg.Connection, tenant_id: uuid.UUID, staged: Mapping[uuid.UUID, tuple[str, int]],
                 cfg: HealthSettings) -> Finding:
    """``staged``: audience id -> (name, candidates staged this refresh), against the pools published now."""
    with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
        previous = {aid: int(n) for aid, n in Q.health.pool_sizes(conn, tenant_id=tenant_id)}
    return health.pool_shrinkage([health.PoolSize(name, previous.get(aid, 0), n)
                                  for aid, (name, n) in sorted(staged.items(), key=lambda kv: kv[1][0])],
                                 cfg.max_pool_shrink)


def conversion_finding(conn: psycopg.Connection, tenant_id: uuid.UUID, cfg: HealthSettings,
                       as_of: datetime | None = None) -> Finding:
    as_of = as_of or datetime.now(timezone.utc)
    with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
        rows = list(Q.health.conversion_periods(
            conn, tenant_id=tenant_id, as_of=as_of, days=cfg.conversion_period_days,
            periods=cfg.conversion_trailing_periods + 1, conversion_types=sorted(CONVERSION_TYPES)))
    series: dict[str, list[Period]] = {}
    for name, _p, exposed, converted in rows:  # ordered by audience, latest period first
        series.setdefault(name, []).append(Period(int(exposed), int(converted)))
    return health.conversion_rate_drops([RateSeries(n, ps) for n, ps in series.items()],
                                        cfg.conversion_drop_tolerance, cfg.conversion_min_expected)


def champion_finding(conn: psycopg.Connection, tenant_id: uuid.UUID, cfg: HealthSettings) -> Finding:
    with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
        rows = list(Q.health.recent_trainings(conn, tenant_id=tenant_id, n=cfg.challenger_losses + 1))
    return health.champion_outperformed([Training(int(v), s, a, b) for v, s, a, b in rows], cfg.challenger_losses)


def freshness_finding(conn: psycopg.Connection, tenant_id: uuid.UUID, cfg: HealthSettings,
                      now: datetime | None = None) -> Finding:
    with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
        leads_at, conversions_at, exported_since = Q.health.input_times(conn, tenant_id=tenant_id)
    return health.input_freshness(now or datetime.now(timezone.utc), leads_at, conversions_at, exported_since,
                                  timedelta(days=cfg.stale_after_days))


def root_cause(exc: BaseException) -> BaseException:
    """The first error of a chain (what ``raise ... from`` and ``during handling`` point back to)."""
    seen = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        nxt = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
        if nxt is None:
            break
        exc = nxt
    return exc


def step_metrics(metadata: Mapping | None) -> dict[str, float]:
    """The numeric figures of a step's metadata (counts, rates, coverage), finite only; never text."""
    out = {}
    for k, v in (metadata or {}).items():
        v = getattr(v, "value", v)
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            continue
        out[str(k)] = v
    return out


def record_step(conn: psycopg.Connection, tenant_id: uuid.UUID, *, run_id: str, asset: str, started_at: datetime,
                seconds: float, error: BaseException | None = None, metadata: Mapping | None = None,
                rows_key: str | None = None) -> None:
    metrics = step_metrics(metadata)
    rows = metrics.get(rows_key) if rows_key else None
    with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
        Q.health.record_step(
            conn, tenant_id=tenant_id, run_id=run_id, asset=asset, started_at=started_at, seconds=max(seconds, 0.0),
            status="failed" if error is not None else "succeeded",
            error_class=type(root_cause(error)).__name__ if error is not None else None,
            row_count=None if rows is None else max(int(rows), 0), metrics=Jsonb(metrics))
