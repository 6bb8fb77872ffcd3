"""Tuning an audience's reach from the evidence: the cap that maximizes what it is worth.

Inputs are the reach-precision curve (``mart_reach_precision_curve``: at each threshold of the score the audience is
cut by, the pool's size above it and its conversions), the audience's incrementality when it has a holdout
(``mart_audience_incrementality``), and the tenant's economics (``settings.tuning``):

* ``cost_per_contact`` and ``value_per_conversion``: the size whose expected value, ``value * conversions *
  caused_share - cost * size``, is highest (``caused_share``: the share of the treatment arm's conversions that
  targeting caused, ``absolute_lift / treatment_rate``, when the holdout's result is significant; otherwise 1, and
  the recommendation says it counts attributed, not caused, conversions);
* or ``target_precision``: the largest size whose conversion rate (times the caused share) stays at or above it.

Nothing here reads a database: the pipeline passes the rows in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class TuningError(ValueError):
    pass


class Economics(BaseModel):
    """A tenant's ``settings.tuning``."""

    model_config = ConfigDict(extra="forbid")

    cost_per_contact: float | None = Field(default=None, ge=0, description="What targeting one lead costs.")
    value_per_conversion: float | None = Field(default=None, gt=0, description="What one conversion is worth.")
    target_precision: float | None = Field(default=None, gt=0, le=1,
                                           description="Alternatively: the lowest conversion rate worth targeting.")

    @model_validator(mode="after")
    def _complete(self) -> Economics:
        if (self.cost_per_contact is None) != (self.value_per_conversion is None):
            raise ValueError("cost_per_contact and value_per_conversion go together")
        return self

    @property
    def configured(self) -> bool:
        return self.value_per_conversion is not None or self.target_precision is not None


def parse_economics(raw: Mapping[str, Any] | None) -> Economics:
    try:
        return Economics.model_validate(dict(raw or {}))
    except ValidationError as exc:
        raise TuningError("settings.tuning: " + "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'tuning'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors())) from None


@dataclass(frozen=True)
class CurvePoint:
    threshold: float
    size: int
    conversions: int


@dataclass(frozen=True)
class Recommendation:
    max_size: int | None  # None: no size is worth targeting (the reason says why)
    threshold: float | None
    expected_conversions: float
    conversion_rate: float | None
    expected_value: float | None
    basis: str  # "value" or "precision"
    caused_share: float | None  # None: attributed conversions (no significant holdout result)
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def caused_share(lift: Mapping[str, Any] | None) -> float | None:
    """The share of the treatment arm's conversions that targeting caused, from a significant holdout result."""
    if not lift or not lift.get("significant") or not lift.get("treatment_rate"):
        return None
    return min(1.0, max(0.0, float(lift["absolute_lift"]) / float(lift["treatment_rate"])))


def recommend(curve: Sequence[CurvePoint], economics: Economics,
              lift: Mapping[str, Any] | None = None) -> Recommendation | None:
    """The recommended reach cap; None when the tenant has no economics or the curve has no point."""
    points = sorted((p for p in curve if p.size > 0), key=lambda p: (p.size, -p.threshold))
    if not economics.configured or not points:
        return None
    share = caused_share(lift)
    k = 1.0 if share is None else share
    counted = ("caused conversions (the holdout's lift)" if share is not None else
               "attributed conversions (no significant holdout result: what targeting caused is not known)")
    if economics.value_per_conversion is not None:
        value, cost = economics.value_per_conversion, economics.cost_per_contact or 0.0
        best = max(points, key=lambda p: (value * k * p.conversions - cost * p.size, -p.size))
        worth = value * k * best.conversions - cost * best.size
        if worth <= 0:
            return Recommendation(None, None, 0.0, None, 0.0, "value", share,
                                  f"no size pays for itself at {cost:g} per contact and {value:g} per conversion, "
                                  f"counting {counted}")
        return Recommendation(best.size, best.threshold, round(k * best.conversions, 2),
                              round(best.conversions / best.size, 6), round(worth, 2), "value", share,
                              f"{best.size} leads maximize {value:g} x conversions - {cost:g} x contacts "
                              f"(expected {worth:,.2f}), counting {counted}")
    target = float(economics.target_precision)
    good = [p for p in points if k * p.conversions / p.size >= target]
    if not good:
        return Recommendation(None, None, 0.0, None, None, "precision", share,
                              f"no size reaches a conversion rate of {target:.1%}, counting {counted}")
    best = max(good, key=lambda p: p.size)
    return Recommendation(best.size, best.threshold, round(k * best.conversions, 2),
                          round(best.conversions / best.size, 6), None, "precision", share,
                          f"the largest size whose conversion rate stays at or above {target:.1%}, counting {counted}")
