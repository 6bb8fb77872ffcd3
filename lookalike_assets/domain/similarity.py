"""Seed profiles, exact top-N search, and the per-block "why similar" breakdown.

Vectors are unit length and made of blocks, each block scaled by sqrt(weight). The cosine similarity of a
lead to a (unit) profile is therefore exactly the sum over blocks of ``lead[block] . profile[block]``:
those terms are the reasons, and they add up to the score.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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

    Memory holds N candidates per profile plus one batch, never all vectors.
    """

    profiles: np.ndarray  # (A, DIM)
    n: int
    exclude: Sequence[set] = ()
    _ids: list[np.ndarray] = field(default_factory=list, init=False)
    _scores: list[np.ndarray] = field(default_factory=list, init=False)
    _vecs: list[np.ndarray] = field(default_factory=list, init=False)
    eligible: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.profiles = validate(self.profiles, DIM, unit=True)
        a = len(self.profiles)
        if self.n < 1:
            raise ValueError("pool size must be at least 1")
        self.exclude = list(self.exclude) or [set() for _ in range(a)]
        if len(self.exclude) != a:
            raise ValueError("one exclusion set per profile")
        self._ids = [np.empty(0, dtype=object) for _ in range(a)]
        self._scores = [np.empty(0, dtype=np.float32) for _ in range(a)]
        self._vecs = [np.empty((0, DIM), dtype=np.float32) for _ in range(a)]
        self.eligible = np.zeros(a, dtype=np.int64)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids) == 0:
            return
        ids = np.asarray(ids, dtype=object)
        scores = vectors @ self.profiles.T  # (b, A)
        for a in range(len(self.profiles)):
            s = scores[:, a]
            keep = np.ones(len(ids), dtype=bool)
            if self.exclude[a]:
                keep = np.fromiter((i not in self.exclude[a] for i in ids), dtype=bool, count=len(ids))
            self.eligible[a] += int(keep.sum())
            idx = np.flatnonzero(keep)
            if idx.size > self.n:
                part = np.argpartition(-s[idx], self.n - 1)[: self.n]
                idx = idx[part]
            all_ids = np.concatenate([self._ids[a], ids[idx]])
            all_scores = np.concatenate([self._scores[a], s[idx]])
            all_vecs = np.concatenate([self._vecs[a], vectors[idx]])
            if len(all_ids) > self.n:
                part = np.argpartition(-all_scores, self.n - 1)[: self.n]
                all_ids, all_scores, all_vecs = all_ids[part], all_scores[part], all_vecs[part]
            self._ids[a], self._scores[a], self._vecs[a] = all_ids, all_scores, all_vecs

    def result(self, a: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ids, scores, vectors) of profile ``a``, best first."""
        order = np.argsort(-self._scores[a], kind="stable")
        return self._ids[a][order], self._scores[a][order], self._vecs[a][order]


def block_contributions(vectors: np.ndarray, profile: np.ndarray, layout: Layout) -> dict[str, np.ndarray]:
    """Per block, each row's share of its cosine similarity to ``profile``; the shares sum to the score."""
    return {name: vectors[:, sl] @ profile[sl] for name, sl in layout.slices().items()}


def reasons(vectors: np.ndarray, profile: np.ndarray, layout: Layout, digits: int = 4) -> list[dict[str, float]]:
    """The "why similar" breakdown of each row as JSON-ready dicts (block -> contribution)."""
    contrib = block_contributions(vectors, profile, layout)
    names = list(contrib)
    mat = np.stack([contrib[n] for n in names], axis=1) if names else np.zeros((len(vectors), 0))
    return [{n: round(float(v), digits) for n, v in zip(names, row)} for row in mat]


def ntile_desc(n: int, buckets: int = 10) -> np.ndarray:
    """Deciles for rows sorted best first, as SQL ``ntile(buckets) OVER (ORDER BY score)``: 10 is the best."""
    asc = np.empty(n, dtype=np.int16)
    if n == 0:
        return asc
    base, extra = divmod(n, buckets)
    sizes = [base + (1 if i < extra else 0) for i in range(buckets)]
    asc[:] = np.repeat(np.arange(1, buckets + 1, dtype=np.int16), sizes)[:n]
    return asc[::-1].copy()


def profile_summary(weights: Mapping[str, float]) -> dict[str, float]:
    return {k: round(float(v), 4) for k, v in weights.items()}
