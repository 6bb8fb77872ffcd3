"""Balanced segments of an audience: k groups of its members, each big enough to get its own creative, that a person
can read.

* **Bounds** (``segment_bounds``): every segment between ``min_percent`` and ``max_percent`` of the tenant's scored
  leads (default 5-10 %, the sizes ad platforms' lookalikes come in) when the audience is big enough for at least
  ``k_min`` such segments; otherwise between ``min_share`` and ``max_share`` of the audience; never below
  ``min_size`` members. Too few members for that: no segments, and the reason.
* **Clustering** (``constrained_kmedians``): k-medians (L1 distance, coordinate-wise median centres: robust to
  outliers, and the vectors mix text and one-hot tabular blocks) where each assignment step is a min-cost flow
  (OR-Tools) that gives every segment a size within the bounds. Deterministic: the same members in any order give
  the same segments.
* **k** (``choose_k``): each k the bounds allow, scored by cohesion (mean silhouette, L1, on a fixed sample); the
  best wins, the smaller k on a tie.
* **Profiles** (``profile_segments``): size, share, the dominant value of each field against the audience (its
  lift), numeric medians against the audience's, mean similarity and rank score, and a name from the two most
  distinctive traits ("Cfo · Germany").
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ortools.graph.python import min_cost_flow

from lookalike_assets.domain.rules import Segments

COST_SCALE = 10_000  # L1 distances to integer arc costs
MAX_ITERATIONS = 12
CHOOSE_SAMPLE = 2500  # members k is chosen on (the final k runs on all of them)
TRAIT_MIN_SHARE = 0.25  # a value must hold for a quarter of a segment to be one of its traits
TRAIT_MIN_LIFT = 1.25  # and be this much more common in the segment than in the audience (x1.04 tells nothing)


class SegmentError(ValueError):
    """Segments that cannot be made (too few members for the bounds); the message says why."""


@dataclass(frozen=True)
class Bounds:
    lo: int
    hi: int
    ks: tuple[int, ...]
    basis: str  # "tenant" (share of the tenant's scored leads) or "audience" (share of the audience)

    def describe(self) -> str:
        what = "of the tenant's scored leads" if self.basis == "tenant" else "of the audience"
        return f"{self.lo}-{self.hi} members per segment ({what}), k in {self.ks[0]}..{self.ks[-1]}"


def _ks(n: int, lo: int, hi: int, cfg: Segments) -> tuple[int, ...]:
    if lo > hi or lo < 1:
        return ()
    return tuple(k for k in range(max(cfg.k_min, math.ceil(n / hi)), min(cfg.k_max, n // lo) + 1) if k >= 1)


def segment_bounds(n: int, scored: int, cfg: Segments) -> Bounds:
    """Segment sizes and the k they allow for an audience of ``n`` members in a tenant of ``scored`` leads."""
    lo = max(math.ceil(scored * cfg.min_percent / 100), cfg.min_size)
    hi = math.floor(scored * cfg.max_percent / 100)
    ks = _ks(n, lo, hi, cfg)
    if ks:
        return Bounds(lo, hi, ks, "tenant")
    lo = max(math.ceil(n * cfg.min_share), cfg.min_size)
    hi = math.floor(n * cfg.max_share)
    ks = _ks(n, lo, hi, cfg)
    if ks:
        return Bounds(lo, hi, ks, "audience")
    raise SegmentError(f"{n} members: too few for {cfg.k_min} or more segments of at least {cfg.min_size} members "
                       f"each and at most {cfg.max_share:.0%} of the audience")


def _l1(x: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """L1 distances of every row of ``x`` to every centre (n x k), in chunks to bound memory."""
    out = np.empty((len(x), len(centers)), dtype=np.float64)
    step = max(1, 2_000_000 // max(x.shape[1] * len(centers), 1))
    for a in range(0, len(x), step):
        out[a:a + step] = np.abs(x[a:a + step, None, :] - centers[None, :, :]).sum(axis=2)
    return out


def balanced_assignment(dist: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """The assignment of rows to columns of least total distance with every column's count in [lo, hi]: a min-cost
    flow (members -> segments -> sink, each segment owing ``lo`` units and passing up to ``hi - lo`` more)."""
    n, k = dist.shape
    if k * lo > n or k * hi < n:
        raise SegmentError(f"{n} members cannot make {k} segments of {lo}-{hi}")
    flow = min_cost_flow.SimpleMinCostFlow()
    costs = np.rint(dist * COST_SCALE).astype(np.int64)
    members = np.repeat(np.arange(n), k)
    segs = n + np.tile(np.arange(k), n)
    flow.add_arcs_with_capacity_and_unit_cost(members, segs, np.ones(n * k, dtype=np.int64), costs.ravel())
    sink = n + k
    flow.add_arcs_with_capacity_and_unit_cost(n + np.arange(k), np.full(k, sink), np.full(k, hi - lo, dtype=np.int64),
                                              np.zeros(k, dtype=np.int64))
    supplies = np.concatenate([np.ones(n, dtype=np.int64), np.full(k, -lo, dtype=np.int64), [-(n - k * lo)]])
    flow.set_nodes_supplies(np.arange(n + k + 1), supplies)
    status = flow.solve()
    if status != flow.OPTIMAL:
        raise SegmentError(f"no balanced assignment of {n} members into {k} segments of {lo}-{hi} (status {status})")
    used = flow.flows(np.arange(n * k)).reshape(n, k)
    return used.argmax(axis=1)


def _seed_for(x: np.ndarray) -> int:
    return int.from_bytes(hashlib.sha256(np.ascontiguousarray(x, dtype=np.float32).tobytes()).digest()[:8], "little")


def constrained_kmedians(x: np.ndarray, k: int, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels (0..k-1) and centres of k balanced segments of the rows of ``x`` (in the order given; callers sort
    the rows so that the result does not depend on it)."""
    n = len(x)
    if k == 1:
        return np.zeros(n, dtype=np.int64), np.median(x, axis=0, keepdims=True)
    rng = np.random.default_rng(_seed_for(x))
    # k-medians++: each next centre drawn in proportion to the distance to the nearest chosen one
    first = int(np.argmin(np.abs(x - np.median(x, axis=0)).sum(axis=1)))
    centers = [x[first]]
    nearest = _l1(x, np.asarray(centers))[:, 0]
    for _ in range(1, k):
        p = nearest / nearest.sum() if nearest.sum() > 0 else np.full(n, 1.0 / n)
        nxt = int(rng.choice(n, p=p))
        centers.append(x[nxt])
        nearest = np.minimum(nearest, _l1(x, x[nxt:nxt + 1])[:, 0])
    c = np.asarray(centers)
    labels = None
    for _ in range(MAX_ITERATIONS):
        new = balanced_assignment(_l1(x, c), lo, hi)
        if labels is not None and np.array_equal(new, labels):
            break
        labels = new
        c = np.stack([np.median(x[labels == j], axis=0) for j in range(k)])
    return labels, c


def cohesion(x: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette (L1): how much closer members are to their own segment than to the next; 0 for one
    segment."""
    from sklearn.metrics import silhouette_score

    if len(set(labels.tolist())) < 2:
        return 0.0
    return float(silhouette_score(x, labels, metric="manhattan"))


@dataclass
class Split:
    k: int
    labels: np.ndarray
    bounds: Bounds
    scores: dict[int, float]


def choose_k(x: np.ndarray, bounds: Bounds) -> Split:
    """The k of best cohesion within the bounds (chosen on a fixed sample of at most CHOOSE_SAMPLE members, with the
    bounds scaled to it), then the segments of all members at that k."""
    n = len(x)
    if n > CHOOSE_SAMPLE:
        idx = np.sort(np.random.default_rng(_seed_for(x[:50])).choice(n, CHOOSE_SAMPLE, replace=False))
        sample, scale = x[idx], CHOOSE_SAMPLE / n
    else:
        sample, scale = x, 1.0
    scores: dict[int, float] = {}
    for k in bounds.ks:
        lo = min(max(1, math.floor(bounds.lo * scale)), len(sample) // k)
        hi = max(math.ceil(bounds.hi * scale), math.ceil(len(sample) / k))
        labels, _ = constrained_kmedians(sample, k, lo, hi)
        scores[k] = round(cohesion(sample, labels), 4)
    best = max(scores, key=lambda k: (scores[k], -k))
    labels, _ = constrained_kmedians(x, best, bounds.lo, bounds.hi)
    return Split(best, labels, bounds, scores)


# ---------------------------------------------------------------------------------------------------------
# Profiles


@dataclass
class SegmentProfile:
    segment_no: int
    name: str
    size: int
    share: float
    mean_similarity: float
    mean_rank_score: float | None
    traits: list[dict[str, Any]] = field(default_factory=list)
    profile: dict[str, Any] = field(default_factory=dict)
    members: list[Any] = field(default_factory=list)
    distinct: bool = True  # it has a trait that sets it apart and a name no other segment has


def _label(value: str) -> str:
    from lookalike_assets.domain.describe import GLOSSARY

    words = str(value).split()
    return " ".join(w.upper() if w.casefold() in GLOSSARY and len(w) <= 4 else w[:1].upper() + w[1:] for w in words)


def _value(row: Mapping[str, Any], name: str) -> Any:
    if name.startswith("attributes."):
        return (row.get("attributes") or {}).get(name.removeprefix("attributes."))
    return row.get(name)


def profile_segments(rows: Sequence[Mapping[str, Any]], labels: np.ndarray, categorical: Sequence[str],
                     numeric: Sequence[str]) -> list[SegmentProfile]:
    """Readable profiles of the segments ``labels`` gives ``rows`` (members with lead fields, ``similarity_score``,
    ``rank_score`` and ``candidate_id``), numbered 1.. from the largest (ties by their first member)."""
    n = len(rows)
    groups: dict[int, list[int]] = {}
    for i, lab in enumerate(labels.tolist()):
        groups.setdefault(lab, []).append(i)
    order = sorted(groups.values(), key=lambda g: (-len(g), g[0]))
    audience_counts = {f: Counter(str(v) for r in rows if (v := _value(r, f)) not in (None, "")) for f in categorical}
    audience_medians = {f: _median([_value(r, f) for r in rows]) for f in numeric}
    out: list[SegmentProfile] = []
    names: Counter = Counter()
    for no, idx in enumerate(order, start=1):
        members = [rows[i] for i in idx]
        size = len(members)
        fields_profile: dict[str, Any] = {}
        traits = []
        for f in categorical:
            counts = Counter(str(v) for r in members if (v := _value(r, f)) not in (None, ""))
            if not counts:
                continue
            value, c = counts.most_common(1)[0]
            share = c / size
            aud_share = audience_counts[f][value] / n
            lift = share / aud_share if aud_share else 0.0
            fields_profile[f] = {"value": value, "share": round(share, 4), "audience_share": round(aud_share, 4),
                                 "lift": round(lift, 3)}
            # the most distinctive value of the field: the one over-represented most among the frequent ones
            best = max(((v, cnt / size, audience_counts[f][v] / n) for v, cnt in counts.items()
                        if cnt / size >= TRAIT_MIN_SHARE),
                       key=lambda t: (t[1] / t[2] if t[2] else 0.0, t[1], t[0]), default=None)
            if best is not None and best[2] > 0 and best[1] / best[2] >= TRAIT_MIN_LIFT:
                traits.append({"field": f, "value": best[0], "share": round(best[1], 4),
                               "audience_share": round(best[2], 4), "lift": round(best[1] / best[2], 3)})
        for f in numeric:
            med = _median([_value(r, f) for r in members])
            if med is None or audience_medians[f] is None:
                continue
            ratio = (med + 1) / (audience_medians[f] + 1) if audience_medians[f] >= 0 and med >= 0 else 1.0
            fields_profile[f] = {"median": med, "audience_median": audience_medians[f], "ratio": round(ratio, 3)}
            if ratio >= 1.5 or ratio <= 1 / 1.5:
                words = f.removeprefix("attributes.").replace("_", " ")
                traits.append({"field": f, "value": f"{'high' if ratio > 1 else 'low'} {words}",
                               "median": med, "audience_median": audience_medians[f],
                               "lift": round(ratio if ratio > 1 else 1 / ratio, 3)})
        # values of fields first (they read best in a name), then numbers far from the audience's median
        traits.sort(key=lambda t: ("median" in t, -t["lift"], t["field"]))
        # named by the traits that set it apart (a third when two name another segment too); a segment with
        # none, or whose traits are all another's, is not distinct: the caller splits into fewer
        distinct = bool(traits)
        name = " · ".join(_label(t["value"]) for t in traits[:2]) or f"Segment {no}"
        if name in names and len(traits) > 2:
            name = " · ".join(_label(t["value"]) for t in traits[:3])
        names[name] += 1
        if names[name] > 1:
            distinct = False
            name = f"{name} ({names[name]})"
        sims = [float(r["similarity_score"]) for r in members]
        ranks = [float(r["rank_score"]) for r in members if r.get("rank_score") is not None]
        out.append(SegmentProfile(
            segment_no=no, name=name, size=size, share=round(size / n, 4),
            mean_similarity=round(float(np.mean(sims)), 4),
            mean_rank_score=round(float(np.mean(ranks)), 4) if ranks else None,
            traits=traits[:5], profile=fields_profile, members=[r["candidate_id"] for r in members],
            distinct=distinct))
    return out


def distinct_segments(x: np.ndarray, rows: Sequence[Mapping[str, Any]], bounds: Bounds, categorical: Sequence[str],
                      numeric: Sequence[str]) -> tuple[Split | None, list[SegmentProfile]]:
    """The split of best cohesion whose segments each have a trait that sets them apart and a name of their own;
    else the same at the next smaller k the bounds allow (a segment that is not distinct is not worth its own
    creative); None when no k does (the members do not differ enough to split)."""
    split = choose_k(x, bounds)
    profiles = profile_segments(rows, split.labels, categorical, numeric)
    if all(p.distinct for p in profiles):
        return split, profiles
    for k in sorted((k for k in bounds.ks if k < split.k), reverse=True):
        labels, _ = constrained_kmedians(x, k, bounds.lo, bounds.hi)
        profiles = profile_segments(rows, labels, categorical, numeric)
        if all(p.distinct for p in profiles):
            return Split(k, labels, bounds, split.scores), profiles
    return None, profiles


def _median(values: Sequence[Any]) -> float | None:
    nums = []
    for v in values:
        if v is None or isinstance(v, bool):
            continue
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(f):
            nums.append(f)
    return round(float(np.median(nums)), 4) if nums else None
