"""The vector layout shared by leads and profiles, and the checks every vector passes before it is stored."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TEXT_DIM = 384
DIM = 512  # the column type is vector(512): the text block (when a tenant has text), then the tabular blocks
TEXT_BLOCK = "text"


class VectorError(ValueError):
    """A vector that must not be stored: wrong dimension, NaN or infinite values, or zero length."""


@dataclass(frozen=True)
class Layout:
    """The blocks of a tenant's vectors, in order, with their widths: the text block first (when the tenant has
    text), then the tabular blocks. Dimensions past the last block stay zero."""

    blocks: tuple[tuple[str, int], ...]  # (name, width)

    def __post_init__(self) -> None:
        if sum(w for _, w in self.blocks) > DIM:
            raise ValueError(f"the blocks need {sum(w for _, w in self.blocks)} dimensions, more than {DIM}")
        names = [n for n, _ in self.blocks]
        if len(set(names)) != len(names):
            raise ValueError(f"block names must be unique: {names}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.blocks)

    @property
    def width(self) -> int:
        return sum(w for _, w in self.blocks)

    def slices(self) -> dict[str, slice]:
        out, start = {}, 0
        for name, width in self.blocks:
            out[name] = slice(start, start + width)
            start += width
        return out


def validate(vectors: np.ndarray, dim: int = DIM, *, ids: list | None = None, unit: bool = False) -> np.ndarray:
    """Return ``vectors`` as float32 (n, dim), or raise VectorError naming the offending rows."""
    arr = np.asarray(vectors)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise VectorError(f"expected vectors of dimension {dim}, got shape {tuple(np.shape(vectors))}")
    if not np.issubdtype(arr.dtype, np.number):
        raise VectorError(f"vectors must be numeric, got dtype {arr.dtype}")
    arr = arr.astype(np.float32, copy=False)

    def _name(rows: np.ndarray) -> str:
        rows = rows[:5]
        labels = [str(ids[i]) if ids is not None else f"row {i}" for i in rows]
        return ", ".join(labels)

    bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))
    if bad.size:
        raise VectorError(f"{bad.size} vector(s) hold NaN or infinite values: {_name(bad)}")
    norms = np.linalg.norm(arr, axis=1)
    zero = np.flatnonzero(norms < 1e-12)
    if zero.size:
        raise VectorError(f"{zero.size} zero vector(s) have no direction: {_name(zero)}")
    if unit:
        off = np.flatnonzero(np.abs(norms - 1.0) > 1e-3)
        if off.size:
            raise VectorError(f"{off.size} vector(s) are not unit length: {_name(off)}")
    return arr


def normalize(vectors: np.ndarray, dim: int = DIM, *, ids: list | None = None) -> np.ndarray:
    """Validate then scale each row to unit length."""
    arr = validate(vectors, dim, ids=ids).copy()
    arr /= np.linalg.norm(arr, axis=1, keepdims=True)
    return arr
