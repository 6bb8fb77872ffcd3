"""What the pipeline's health checks decide, as plain functions of the figures the pipeline reads (no Dagster, no
database): embedding coverage, a pool that shrank, an audience's conversion rate against its trailing average, a
champion model its challengers keep beating, inputs that stopped arriving.

Each returns a :class:`Finding`: passed or not, how bad a failure is (``warn`` or ``error``), one line a person
reads, and the figures behind it (counts, rates, names of audiences; never a person's data). The Dagster layer turns
findings into asset check results, which the alerts sensor reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

Severity = Literal["warn", "error"]


@dataclass(frozen=True)
class Finding:
    passed: bool
    severity: Severity
    summary: str
    details: dict[str, Any] = field(default_factory=dict)


def embedding_coverage(leads: int, embedded: int, stale: int, minimum: float) -> Finding:
    """Share of the tenant's leads with a current embedding (an embedding of stale features does not count) against
    ``minimum``: below it, similarity search misses leads, an error."""
    if not 0 <= minimum <= 1:
        raise ValueError(f"minimum coverage must be between 0 and 1, not {minimum}")
    current = max(embedded - stale, 0)
    coverage = current / leads if leads else 1.0
    passed = coverage >= minimum
    summary = (f"{coverage:.2%} of {leads} leads have a current embedding"
               + ("" if passed else f", below the {minimum:.0%} required"))
    return Finding(passed, "error", summary, {"leads": leads, "current": current, "stale": stale,
                                              "coverage": round(coverage, 4), "minimum": minimum})


@dataclass(frozen=True)
class PoolSize:
    audience: str
    previous: int  # candidates in the pool now (before this refresh publishes)
    current: int  # candidates in the pool this refresh staged


def pool_shrinkage(pools: Sequence[PoolSize], max_shrink: float) -> Finding:
    """Pools that lost more than ``max_shrink`` (a share, 0.5 = half) of their candidates since the last refresh: a
    feed that lost leads, rules or suppression gone wrong. A new pool (no previous one) is never flagged."""
    if not 0 < max_shrink <= 1:
        raise ValueError(f"max shrink must be a share in (0, 1], not {max_shrink}")
    shrunk = [(p.audience, p.previous, p.current, round(1 - p.current / p.previous, 4))
              for p in pools if p.previous > 0 and (p.previous - p.current) / p.previous > max_shrink]
    if shrunk:
        summary = "; ".join(f"{a}: {prev} -> {cur} candidates (-{s:.0%})" for a, prev, cur, s in shrunk)
    else:
        summary = f"no pool shrank by more than {max_shrink:.0%}"
    return Finding(not shrunk, "warn", summary, {
        "max_shrink": max_shrink,
        "pools": [{"audience": p.audience, "previous": p.previous, "current": p.current} for p in pools],
        "shrunk": [a for a, *_ in shrunk]})


@dataclass(frozen=True)
class Period:
    exposed: int  # leads exported in the audience before the period ended
    converted: int  # of them, those with a conversion within the period


@dataclass(frozen=True)
class RateSeries:
    audience: str
    periods: Sequence[Period]  # the latest first


@dataclass(frozen=True)
class RateDrop:
    audience: str
    rate: float | None
    trailing: float | None
    expected: float
    status: Literal["ok", "dropped", "too_little_data"]


def conversion_rate_drops(series: Sequence[RateSeries], tolerance: float, min_expected: float) -> Finding:
    """Each audience's conversion rate in its latest period against its trailing average (the pooled rate of the
    periods before it): flagged when it fell by more than ``tolerance`` (a share of the trailing rate, 0.5 = half).
    An audience is judged only when its trailing rate predicts at least ``min_expected`` conversions in the latest
    period, so a handful of events cannot raise an alert."""
    if not 0 < tolerance < 1:
        raise ValueError(f"tolerance must be a share in (0, 1), not {tolerance}")
    out: list[RateDrop] = []
    for s in series:
        if not s.periods:
            out.append(RateDrop(s.audience, None, None, 0.0, "too_little_data"))
            continue
        latest, before = s.periods[0], s.periods[1:]
        exposed_before = sum(p.exposed for p in before)
        trailing = sum(p.converted for p in before) / exposed_before if exposed_before else None
        rate = latest.converted / latest.exposed if latest.exposed else None
        expected = (trailing or 0.0) * latest.exposed
        if trailing is None or rate is None or expected < min_expected:
            status = "too_little_data"
        else:
            status = "dropped" if rate < trailing * (1 - tolerance) else "ok"
        out.append(RateDrop(s.audience, rate, trailing, round(expected, 2), status))
    dropped = [d for d in out if d.status == "dropped"]
    judged = [d for d in out if d.status != "too_little_data"]
    if dropped:
        summary = "; ".join(f"{d.audience}: {d.rate:.2%} against a trailing {d.trailing:.2%}" for d in dropped)
    elif judged:
        summary = f"{len(judged)} audience(s) within {tolerance:.0%} of their trailing conversion rate"
    else:
        summary = "no audience has enough exposure history to judge its conversion rate yet"
    return Finding(not dropped, "warn", summary, {
        "tolerance": tolerance, "min_expected": min_expected,
        "audiences": [{"audience": d.audience, "rate": None if d.rate is None else round(d.rate, 4),
                       "trailing": None if d.trailing is None else round(d.trailing, 4),
                       "expected": d.expected, "status": d.status} for d in out]})


@dataclass(frozen=True)
class Training:
    version: int
    status: str  # champion, rejected, retired
    challenger_auc: float | None
    champion_auc: float | None  # the champion's AUC on the challenger's holdout (None: there was no champion)


def champion_outperformed(trainings: Sequence[Training], limit: int) -> Finding:
    """The champion lost to its challenger on the same holdout in the last ``limit`` trainings in a row, each time
    without clear enough evidence to be replaced: it is probably stale (its data moved on), and what scores the
    pools is a model a newer one beats. ``trainings``: the latest first."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    streak = 0
    for t in trainings:
        if t.status != "rejected" or t.champion_auc is None or t.challenger_auc is None:
            break
        if t.challenger_auc <= t.champion_auc:
            break
        streak += 1
    passed = streak < limit
    if passed:
        summary = (f"the champion lost to its challenger in the last {streak} training(s) in a row"
                   if streak else "the champion held against its latest challenger")
    else:
        summary = (f"the champion lost to its challenger in the last {streak} trainings in a row without being "
                   "replaced: review the promotion evidence or retrain on more outcomes")
    return Finding(passed, "warn", summary, {"streak": streak, "limit": limit,
                                             "versions": [t.version for t in trainings[:streak]]})


def input_freshness(now: datetime, leads_changed_at: datetime | None, conversions_at: datetime | None,
                    exported_since: datetime | None, max_age: timedelta) -> Finding:
    """The tenant's inputs kept arriving: its newest lead change is at most ``max_age`` old, and so is its newest
    conversion event once outcomes are expected (it first exported an audience more than ``max_age`` ago)."""
    def age(t: datetime | None) -> float | None:
        return None if t is None else round((now - t).total_seconds() / 86400, 2)

    expects_conversions = exported_since is not None and now - exported_since > max_age
    stale = []
    if leads_changed_at is None or now - leads_changed_at > max_age:
        stale.append("leads")
    if expects_conversions and (conversions_at is None or now - conversions_at > max_age):
        stale.append("conversions")
    days = max_age.total_seconds() / 86400
    if stale:
        summary = f"no new {' and no new '.join(stale)} for more than {days:g} days"
    else:
        summary = f"leads{' and conversions' if expects_conversions else ''} arrived within {days:g} days"
    return Finding(not stale, "warn", summary, {
        "stale": stale, "max_age_days": days, "leads_age_days": age(leads_changed_at),
        "conversions_age_days": age(conversions_at), "expects_conversions": expects_conversions})
