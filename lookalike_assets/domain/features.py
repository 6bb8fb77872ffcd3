"""Lead features: which columns feed which block of the vector, how each value is encoded, and the text
blob that goes to the text encoder.

A tenant's ``FeatureSpec`` is inferred once from its leads (or given) and stored; its ``version`` is a hash
of its content, so a changed spec re-embeds every lead, and an unchanged one re-embeds only changed leads.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field, field_validator, model_validator

from lookalike_assets.domain.vectors import BLOCK_DIM, DIM, TABULAR_BLOCKS, TEXT_DIM, Layout

ColumnKind = Literal["categorical", "numeric"]


class FeatureError(ValueError):
    """A feature spec or a mapping that cannot be used: unknown columns, too many blocks, bad weights."""


class ColumnSpec(BaseModel):
    name: str
    kind: ColumnKind
    # numeric only: value range after the optional log transform, from the 1st and 99th percentiles
    log: bool = False
    lo: float = 0.0
    hi: float = 1.0


class BlockSpec(BaseModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,40}$")
    columns: list[ColumnSpec] = Field(min_length=1)
    weight: float = Field(gt=0)


class FeatureSpec(BaseModel):
    """What becomes a lead's vector: the text block and up to 8 tabular blocks."""

    text_columns: list[str] = Field(default_factory=list)
    text_weight: float = Field(default=0.4, ge=0, le=1)
    blocks: list[BlockSpec] = Field(default_factory=list)

    @field_validator("blocks")
    @classmethod
    def _few_blocks(cls, blocks: list[BlockSpec]) -> list[BlockSpec]:
        if len(blocks) > TABULAR_BLOCKS:
            raise FeatureError(f"at most {TABULAR_BLOCKS} tabular blocks, got {len(blocks)}")
        names = [b.name for b in blocks]
        if len(set(names)) != len(names) or "text" in names:
            raise FeatureError(f"block names must be unique and not 'text': {names}")
        return blocks

    @model_validator(mode="after")
    def _something(self) -> FeatureSpec:
        if not self.blocks and not (self.text_columns and self.text_weight > 0):
            raise FeatureError("a feature spec needs at least one tabular block or text column")
        return self

    @property
    def layout(self) -> Layout:
        return Layout(tuple(b.name for b in self.blocks))

    @property
    def effective_text_weight(self) -> float:
        if not self.text_columns:
            return 0.0
        return self.text_weight if self.blocks else 1.0

    def block_weights(self) -> dict[str, float]:
        """Weights of the text block and each tabular block; they sum to 1."""
        tw = self.effective_text_weight
        total = sum(b.weight for b in self.blocks) or 1.0
        out = {"text": tw}
        for b in self.blocks:
            out[b.name] = (1.0 - tw) * b.weight / total
        return out

    @property
    def columns(self) -> list[str]:
        cols = list(self.text_columns)
        for b in self.blocks:
            cols += [c.name for c in b.columns]
        return list(dict.fromkeys(cols))

    @property
    def version(self) -> str:
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return "fs-" + hashlib.sha256(payload).hexdigest()[:12]


# ---------------------------------------------------------------------------------------------------------
# Values


def clean_value(value: Any) -> Any:
    """Normalize one raw value: trimmed lower-case strings, finite floats; None for empty or missing."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float, np.integer, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    s = str(value).strip()
    if not s or s.lower() in {"nan", "none", "null", "n/a", "na"}:
        return None
    return s.lower()


def as_number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(float(value)) else None
    try:
        f = float(str(value).replace(",", ""))
    except ValueError:
        return None
    return f if math.isfinite(f) else None


_WS = re.compile(r"\s+")


def text_blob(lead: Mapping[str, Any], text_columns: Sequence[str]) -> str:
    """'Column: value. Column: value.' over the text columns that have a value."""
    parts = []
    for col in text_columns:
        v = lead.get(col)
        if v is None or (isinstance(v, float) and not math.isfinite(v)):
            continue
        s = _WS.sub(" ", str(v)).strip()
        if s:
            parts.append(f"{col.replace('_', ' ').capitalize()}: {s}.")
    return " ".join(parts)


def lead_features(lead: Mapping[str, Any], spec: FeatureSpec) -> tuple[dict[str, Any], str, str]:
    """(features, text blob, content hash) of one lead under ``spec``."""
    feats: dict[str, Any] = {}
    for block in spec.blocks:
        for col in block.columns:
            v = clean_value(lead.get(col.name))
            if col.kind == "numeric":
                v = as_number(v)
            feats[col.name] = v
    blob = text_blob(lead, spec.text_columns)
    payload = json.dumps([feats, blob, spec.version], sort_keys=True, default=str).encode()
    return feats, blob, hashlib.sha256(payload).hexdigest()


# ---------------------------------------------------------------------------------------------------------
# Tabular encoding


def _category_vector(column: str, value: str) -> np.ndarray:
    """A fixed pseudo-random unit vector for (column, value): no vocabulary to store or to drift."""
    seed = int.from_bytes(hashlib.blake2b(f"{column}={value}".encode(), digest_size=8).digest(), "little")
    v = np.random.default_rng(seed).standard_normal(BLOCK_DIM).astype(np.float32)
    return v / np.linalg.norm(v)


_CENTERS = np.linspace(0.0, 1.0, BLOCK_DIM, dtype=np.float32)
_WIDTH = 1.5 / BLOCK_DIM


def _numeric_vector(col: ColumnSpec, value: float) -> np.ndarray:
    """Radial basis bumps over the column's range: nearby values get similar vectors."""
    x = math.copysign(math.log1p(abs(value)), value) if col.log else value
    span = col.hi - col.lo
    t = 0.5 if span <= 0 else min(max((x - col.lo) / span, 0.0), 1.0)
    v = np.exp(-0.5 * ((_CENTERS - t) / _WIDTH) ** 2).astype(np.float32)
    return v / np.linalg.norm(v)


def tabular_matrix(features: Sequence[Mapping[str, Any]], spec: FeatureSpec) -> np.ndarray:
    """(n, DIM) float32 with the tabular blocks filled (unit per block, scaled by sqrt(weight))."""
    out = np.zeros((len(features), DIM), dtype=np.float32)
    weights = spec.block_weights()
    slices = spec.layout.slices()
    cache: dict[tuple[str, Any], np.ndarray] = {}
    for block in spec.blocks:
        sl = slices[block.name]
        scale = math.sqrt(weights[block.name])
        for i, f in enumerate(features):
            acc = np.zeros(BLOCK_DIM, dtype=np.float32)
            for col in block.columns:
                v = f.get(col.name)
                if v is None:
                    continue
                key = (col.name, v)
                vec = cache.get(key)
                if vec is None:
                    vec = _numeric_vector(col, v) if col.kind == "numeric" else _category_vector(col.name, str(v))
                    cache[key] = vec
                acc += vec
            n = np.linalg.norm(acc)
            if n > 0:
                out[i, sl] = acc * (scale / n)
    return out


def combine(text_vectors: np.ndarray, tabular: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """Put the (unit) text vectors, scaled by sqrt(text weight), into the text block of ``tabular``."""
    out = tabular.copy()
    tw = spec.effective_text_weight
    if tw > 0:
        out[:, :TEXT_DIM] = text_vectors * math.sqrt(tw)
    return out


# ---------------------------------------------------------------------------------------------------------
# Inferring a spec


DEMO_BLOCKS: dict[str, list[tuple[str, ColumnKind]]] = {
    "industry": [("industry", "categorical")],
    "size": [("company_size", "numeric")],
    "geography": [("country", "categorical"), ("region", "categorical")],
    "role": [("seniority", "categorical"), ("title", "categorical")],
    "engagement": [("email_opens", "numeric"), ("web_visits", "numeric")],
    "property": [("property_type", "categorical")],
}
DEMO_TEXT_COLUMNS = ["title", "industry", "company", "bio"]


def _numeric_range(values: np.ndarray) -> tuple[bool, float, float]:
    use_log = bool(values.size and values.min() >= 0 and np.percentile(values, 99) > 50)
    x = np.log1p(values) if use_log else values
    if x.size == 0:
        return use_log, 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(x, [1, 99]))
    return use_log, lo, hi


def infer_column_kinds(rows: Sequence[Mapping[str, Any]], columns: Iterable[str]) -> dict[str, ColumnKind | None]:
    """numeric when at least 95 % of the present values parse as numbers; None for an empty column."""
    kinds: dict[str, ColumnKind | None] = {}
    for col in columns:
        present = [r.get(col) for r in rows if clean_value(r.get(col)) is not None]
        if not present:
            kinds[col] = None
            continue
        numeric = sum(as_number(v) is not None for v in present)
        kinds[col] = "numeric" if numeric >= 0.95 * len(present) else "categorical"
    return kinds


def build_spec(
    rows: Sequence[Mapping[str, Any]],
    blocks: Mapping[str, Sequence[tuple[str, ColumnKind | None]]],
    text_columns: Sequence[str] = (),
    text_weight: float = 0.4,
    block_weights: Mapping[str, float] | None = None,
) -> FeatureSpec:
    """A spec whose numeric ranges come from ``rows``. Columns with no value in any row are left out;
    blocks left empty are dropped. A kind of None is inferred."""
    out: list[BlockSpec] = []
    all_cols = [c for cols in blocks.values() for c, _ in cols]
    inferred = infer_column_kinds(rows, all_cols)
    for name, cols in blocks.items():
        specs = []
        for col, kind in cols:
            kind = kind or inferred.get(col)
            if kind is None or inferred.get(col) is None:
                continue
            if kind == "numeric":
                vals = np.array([v for v in (as_number(clean_value(r.get(col))) for r in rows) if v is not None])
                log, lo, hi = _numeric_range(vals)
                specs.append(ColumnSpec(name=col, kind="numeric", log=log, lo=lo, hi=hi))
            else:
                specs.append(ColumnSpec(name=col, kind="categorical"))
        if specs:
            out.append(BlockSpec(name=name, columns=specs, weight=(block_weights or {}).get(name, 1.0)))
    text_present = [c for c in text_columns if any(clean_value(r.get(c)) is not None for r in rows)]
    return FeatureSpec(text_columns=text_present, text_weight=text_weight, blocks=out)


def auto_blocks(columns: Sequence[str], max_blocks: int = TABULAR_BLOCKS) -> dict[str, list[tuple[str, None]]]:
    """One block per column while they fit; past that, the remaining columns share the last block."""
    cols = list(columns)
    if len(cols) <= max_blocks:
        return {_block_name(c): [(c, None)] for c in cols}
    head, tail = cols[: max_blocks - 1], cols[max_blocks - 1 :]
    out = {_block_name(c): [(c, None)] for c in head}
    out["other"] = [(c, None) for c in tail]
    return out


def _block_name(column: str) -> str:
    name = re.sub(r"[^a-z0-9_]", "_", column.lower()).strip("_") or "col"
    if not name[0].isalpha():
        name = "c_" + name
    return name[:40]
