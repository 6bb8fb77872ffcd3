"""The plainest lookalike baseline, to measure lookalike's own similarity against: every categorical column
one-hot, every numeric column standardized, cosine similarity to the centroid of the seeds' rows.

Nothing of lookalike's feature code is used here on purpose: this is the yardstick a data scientist would write
in ten minutes, and ``lookalike backtest`` reports it beside lookalike's ``similarity`` on the same seeds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from lookalike_assets.domain.identifiers import AmbiguousNumber, parse_number

NUMERIC_SHARE = 0.95  # a column is numeric when this share of its non-empty values parse as numbers


def _number(value) -> float | None:
    try:
        return parse_number(value)
    except (AmbiguousNumber, ValueError, TypeError):
        return None


def design_matrix(rows: Sequence[Mapping[str, object]], columns: Sequence[str]) -> np.ndarray:
    """One-hot categoricals and standardized numerics (missing -> the mean), in ``columns`` order."""
    blocks: list[np.ndarray] = []
    n = len(rows)
    for col in columns:
        raw = [r.get(col) for r in rows]
        present = [v for v in raw if v not in (None, "")]
        nums = [_number(v) for v in raw]
        parsed = sum(1 for v, x in zip(raw, nums) if v not in (None, "") and x is not None)
        if present and parsed >= NUMERIC_SHARE * len(present):
            x = np.array([np.nan if v is None else v for v in nums], dtype=np.float64)
            mean = np.nanmean(x) if np.isfinite(x).any() else 0.0
            std = np.nanstd(x) if np.isfinite(x).any() else 0.0
            x = np.where(np.isfinite(x), x, mean)
            blocks.append(((x - mean) / (std or 1.0)).reshape(n, 1))
        else:
            values = sorted({str(v) for v in raw})
            index = {v: i for i, v in enumerate(values)}
            onehot = np.zeros((n, len(values)))
            onehot[np.arange(n), [index[str(v)] for v in raw]] = 1.0
            blocks.append(onehot)
    return np.hstack(blocks) if blocks else np.zeros((n, 0))


VARIANTS = ("cosine", "dot", "centred_cosine", "centred_dot")


def onehot_centroid_scores(rows: Sequence[Mapping[str, object]], columns: Sequence[str],
                           seed_rows: Sequence[int]) -> dict[str, np.ndarray]:
    """Every row's similarity to the centroid of the seed rows, four ways a data scientist might write it:
    cosine or dot product, on the design matrix as is or with every column centred."""
    x = design_matrix(rows, columns)
    seeds = list(seed_rows)
    out = {}
    for centred in (False, True):
        m = x - x.mean(axis=0) if centred else x
        prefix = "centred_" if centred else ""
        out[f"{prefix}dot"] = m @ m[seeds].mean(axis=0)
        norms = np.linalg.norm(m, axis=1, keepdims=True)
        unit = m / np.where(norms > 0, norms, 1.0)
        centroid = unit[seeds].mean(axis=0)
        c = np.linalg.norm(centroid)
        out[f"{prefix}cosine"] = unit @ (centroid / c) if c > 0 else np.zeros(len(rows))
    return out
