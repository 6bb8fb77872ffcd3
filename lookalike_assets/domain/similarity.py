"""Seed profiles, exact top-N search, and the per-block "why similar" breakdown.

Vectors are unit length and made of blocks, each block scaled by sqrt(weight). The cosine similarity of a
lead to a (unit) profile is therefore exactly the sum over blocks of ``lead[block] . profile[block]``:
those terms are the reasons, and they add up to the score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from lookalike_assets.domain.vectors import DIM, Layout, VectorError, validate

LABEL_WEIGHTS: dict[str, float] = {"won": 1.0, "meeting": 0.7, "replied": 0.5, "scored": 0.3, "manual": 1.0}


class SeedError(ValueError):
    """A seed set that cannot make a profile."""


def seed_weight(label: str, weight: float | None) -> float:
    if weight is not None:
        return float(weight)
    try:
        return LABEL_WEIGHTS[label]
    except KeyError as exc:
        raise SeedError(f"unknown seed label {label!r}: one of {', '.join(LABEL_WEIGHTS)}") from exc


def weighted_centroid(vectors: np.ndarray, weights: Sequence[float]) -> np.ndarray:
    """Unit-length weighted mean of the seed vectors."""
    vecs = validate(vectors, DIM)
    w = np.asarray(weights, dtype=np.float64)
    if len(vecs) == 0:
        raise SeedError("an empty seed set has no profile")
    if w.shape != (len(vecs),) or not np.isfinite(w).all() or (w <= 0).any():
        raise SeedError("seed weights must be positive, one per seed")
    c = (vecs.astype(np.float64) * w[:, None]).sum(axis=0) / w.sum()
    n = np.linalg.norm(c)
    if n < 1e-9:
        raise VectorError("the seeds cancel out: their centroid is a zero vector")
    return (c / n).astype(np.float32)


@dataclass
class TopN:
    """Streaming exact top-N per profile over batches of (ids, vectors), with per-profile exclusions.

    Memory holds N candidates per profile plus one batch, never all vectors. With a ``layout``, each kept row
    carries its per-block contributions to the score (the "why similar" breakdown), computed in the batch it came
    from, so that no vector is kept after its batch.
    """

    profiles: np.ndarray  # (A, DIM)
    n: int
    exclude: Sequence[set] = ()
    layout: Layout | None = None
    _ids: list[np.ndarray] = field(default_factory=list, init=False)
    _scores: list[np.ndarray] = field(default_factory=list, init=False)
    _parts: list[np.ndarray] = field(default_factory=list, init=False)
    eligible: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.profiles = validate(self.profiles, DIM, unit=True)
        a = len(self.profiles)
        if self.n < 1:
            raise ValueError("pool size must be at least 1")
        self.exclude = list(self.exclude) or [set() for _ in range(a)]
        if len(self.exclude) != a:
            raise ValueError("one exclusion set per profile")
        self._slices = list(self.layout.slices().values()) if self.layout else []
        width = len(self._slices)
        self._ids: list[np.ndarray | None] = [None] * a
        self._scores = [np.empty(0, dtype=np.float32) for _ in range(a)]
        self._parts = [np.empty((0, width), dtype=np.float32) for _ in range(a)]
        self.eligible = np.zeros(a, dtype=np.int64)
        union = set().union(*self.exclude) if self.exclude else set()
        self._excluded_any = np.array(sorted(union)) if union else None
        self._excluded = [np.array(sorted(e)) if e else None for e in self.exclude]

    @property
    def block_names(self) -> list[str]:
        return list(self.layout.slices()) if self.layout else []

    def _contributions(self, vectors: np.ndarray, a: int) -> np.ndarray:
        p = self.profiles[a]
        out = np.empty((len(vectors), len(self._slices)), dtype=np.float32)
        for j, sl in enumerate(self._slices):
            out[:, j] = vectors[:, sl] @ p[sl]
        return out

    def add(self, ids, vectors: np.ndarray) -> None:
        """One batch: ``ids`` (any hashable ids, e.g. 16-byte UUIDs) and their (b, DIM) vectors."""
        n = len(ids)
        if n == 0:
            return
        ids = np.asarray(ids)
        scores = vectors @ self.profiles.T  # (b, A)
        # Exclusions: one vectorized membership test against the union, then per profile for the few hits.
        hits = np.flatnonzero(np.isin(ids, self._excluded_any)) if self._excluded_any is not None else np.empty(0, int)
        for a in range(len(self.profiles)):
            s = scores[:, a]
            keep = np.ones(n, dtype=bool)
            if hits.size and self._excluded[a] is not None:
                keep[hits[np.isin(ids[hits], self._excluded[a])]] = False
            self.eligible[a] += int(keep.sum()) if hits.size else n
            old = len(self._scores[a])
            if old >= self.n:  # only rows that beat the current N-th best can enter
                keep &= s > self._scores[a].min()
            idx = np.flatnonzero(keep)
            if idx.size == 0:
                continue
            if idx.size > self.n:
                idx = idx[np.argpartition(-s[idx], self.n - 1)[: self.n]]
            merged = np.concatenate([self._scores[a], s[idx]])
            if len(merged) > self.n:
                sel = np.argpartition(-merged, self.n - 1)[: self.n]
                from_old, from_new = sel[sel < old], sel[sel >= old] - old
            else:
                from_old, from_new = np.arange(old), np.arange(idx.size)
            new_rows = idx[from_new]
            self._scores[a] = np.concatenate([self._scores[a][from_old], s[new_rows]])
            prev = self._ids[a]
            self._ids[a] = ids[new_rows] if prev is None else np.concatenate([prev[from_old], ids[new_rows]])
            self._parts[a] = np.concatenate([self._parts[a][from_old], self._contributions(vectors[new_rows], a)])

    def result(self, a: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ids, scores, per-block contributions) of profile ``a``, best first."""
        order = np.argsort(-self._scores[a], kind="stable")
        ids = self._ids[a] if self._ids[a] is not None else np.empty(0, dtype=object)
        return ids[order], self._scores[a][order], self._parts[a][order]


def block_contributions(vectors: np.ndarray, profile: np.ndarray, layout: Layout) -> dict[str, np.ndarray]:
    """Per block, each row's share of its cosine similarity to ``profile``; the shares sum to the score."""
    return {name: vectors[:, sl] @ profile[sl] for name, sl in layout.slices().items()}


def reasons(vectors: np.ndarray, profile: np.ndarray, layout: Layout, digits: int = 4) -> list[dict[str, float]]:
    """The "why similar" breakdown of each row as JSON-ready dicts (block -> contribution)."""
    contrib = block_contributions(vectors, profile, layout)
    names = list(contrib)
    mat = np.stack([contrib[n] for n in names], axis=1) if names else np.zeros((len(vectors), 0))
    return reasons_from_parts(mat, names, digits)


def reasons_from_parts(parts: np.ndarray, names: Sequence[str], digits: int = 4) -> list[dict[str, float]]:
    rounded = np.round(parts.astype(np.float64), digits)
    return [dict(zip(names, row)) for row in rounded.tolist()]


def ntile_desc(n: int, buckets: int = 10) -> np.ndarray:
    """Deciles for rows sorted best first, as SQL ``ntile(buckets) OVER (ORDER BY score)``: 10 is the best."""
    asc = np.empty(n, dtype=np.int16)
    if n == 0:
        return asc
    base, extra = divmod(n, buckets)
    sizes = [base + (1 if i < extra else 0) for i in range(buckets)]
    asc[:] = np.repeat(np.arange(1, buckets + 1, dtype=np.int16), sizes)[:n]
    return asc[::-1].copy()

