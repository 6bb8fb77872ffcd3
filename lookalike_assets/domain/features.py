"""Lead features: which columns feed which block of the vector, how each value is encoded, and the text blob that
goes to the text encoder.

A lead's vector (unit length, 512 dimensions) is the concatenation of:

* the **text block** (384 dimensions, when the tenant has text columns): the sentence embedding of the lead's
  text blob, centred on the tenant's mean embedding and scaled to unit mean square (the *text calibration*,
  measured once per tenant and encoder), times ``sqrt(text_weight)``;
* one **tabular block** per group of columns (one per column for imported files, named groups for the demo),
  in the order of their names. Every column is encoded *centred* on the tenant's leads and scaled to unit mean
  square, so that each column weighs the same whatever its width and a missing value is neutral (zero):
  numeric columns as a quantile normal score plus one-hot quantile bins (robust to skew and outliers, and able to
  express "the middle is best"); categorical columns one-hot over their most frequent values plus "other".

Cosine similarity to a (unit) seed centroid is then exactly the sum over blocks of the block dot products: the
"why similar" breakdown. A tenant's ``FeatureSpec`` is built once from its leads (or an import's mapping) and
stored; its ``version`` is a hash of its content, so a changed spec re-embeds every lead and an unchanged one
only changed leads.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field, model_validator

from lookalike_assets.domain.identifiers import AmbiguousNumber, parse_number
from lookalike_assets.domain.vectors import DIM, TEXT_BLOCK, TEXT_DIM, Layout

ColumnKind = Literal["categorical", "numeric"]
FORMAT = 2
MAX_CATEGORIES = 32  # named categories of a column at most; rarer values share "other"
MIN_CATEGORY_ROWS = 2  # a category seen once is "other"
NUMERIC_BINS = 6
CDF_KNOTS = 257


class FeatureError(ValueError):
    """A feature spec or a mapping that cannot be used: unknown columns, too wide for the vector, bad weights."""


class ColumnSpec(BaseModel):
    """How one column is encoded, with the tenant statistics that centre and scale it."""

    name: str
    kind: ColumnKind
    # categorical: the named categories, most frequent first; everything else is "other"
    categories: list[str] = Field(default_factory=list)
    # share of the tenant's leads with a value in each slot (categories then "other"; or each numeric bin): the mean
    # that centres the one-hot part
    frequencies: list[float] = Field(default_factory=list)
    coverage: float = 1.0  # categorical: share of present values that have a named category
    # numeric: the empirical CDF (knots and probabilities) for the normal score, and the bin edges
    cdf_x: list[float] = Field(default_factory=list)
    cdf_p: list[float] = Field(default_factory=list)
    edges: list[float] = Field(default_factory=list)
    z_mean: float = 0.0
    scale: float = 1.0  # makes the column's mean square 1 over the tenant's leads

    @property
    def width(self) -> int:
        if self.kind == "categorical":
            return len(self.categories) + 1
        return 1 + len(self.edges) + 1

    def raw(self, value: Any) -> np.ndarray | None:
        """The uncentred encoding of a value (None when missing)."""
        if value is None:
            return None
        if self.kind == "categorical":
            v = np.zeros(self.width)
            s = str(value)
            v[self.categories.index(s) if s in self.categories else len(self.categories)] = 1.0
            return v
        x = float(value)
        if not math.isfinite(x):
            return None
        p = float(np.interp(x, self.cdf_x, self.cdf_p)) if self.cdf_x else 0.5
        v = np.zeros(self.width)
        v[0] = _normal_score(p)
        v[1 + int(np.searchsorted(self.edges, x, side="right"))] = 1.0
        return v

    def mean(self) -> np.ndarray:
        if self.kind == "categorical":
            return np.asarray(self.frequencies, dtype=float)
        return np.concatenate([[self.z_mean], self.frequencies])

    def encode(self, value: Any) -> np.ndarray:
        """Centred and scaled; zero (the tenant's mean) for a missing value."""
        r = self.raw(value)
        if r is None:
            return np.zeros(self.width)
        return (r - self.mean()) * self.scale


class BlockSpec(BaseModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,40}$")
    columns: list[ColumnSpec] = Field(min_length=1)
    weight: float = Field(default=1.0, gt=0, description="Multiplies the weight of each of its columns.")

    @property
    def width(self) -> int:
        return sum(c.width for c in self.columns)


class TextCalibration(BaseModel):
    """The tenant's mean text embedding and the scale that gives centred embeddings unit mean square."""

    encoder: str
    mean: list[float]
    scale: float
    # the mean cosine of the sample's vectors to the fp32 model's, when the encoder is a quantized one
    fidelity: float | None = None
    # the machine's encoder, when it did not keep the tenant's own texts at the floor and ``encoder`` replaced it
    instead_of: str | None = None


# what the text calibration records about how its encoder was chosen, which does not decide a vector
_NOT_IN_VERSION = {"text_calibration": {"fidelity", "instead_of"}}


class FeatureSpec(BaseModel):
    """What becomes a lead's vector: the text block and the tabular blocks (see the module docstring)."""

    format: Literal[2] = FORMAT
    text_columns: list[str] = Field(default_factory=list)
    text_weight: float = Field(default=0.4, ge=0, le=1)
    text_calibration: TextCalibration | None = None
    blocks: list[BlockSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _valid(self) -> FeatureSpec:
        if not self.blocks and not (self.text_columns and self.text_weight > 0):
            raise FeatureError("a feature spec needs at least one tabular block or text column")
        names = [b.name for b in self.blocks]
        if len(set(names)) != len(names) or TEXT_BLOCK in names:
            raise FeatureError(f"block names must be unique and not 'text': {names}")
        width = (TEXT_DIM if self.has_text else 0) + sum(b.width for b in self.blocks)
        if width > DIM:
            raise FeatureError(f"the columns need {width} dimensions, more than the {DIM} of a vector: leave some "
                               "out (--exclude-columns) or import fewer categories")
        return self

    @property
    def has_text(self) -> bool:
        return bool(self.text_columns) and self.effective_text_weight > 0

    @property
    def layout(self) -> Layout:
        blocks = [(TEXT_BLOCK, TEXT_DIM)] if self.text_columns and self.effective_text_weight > 0 else []
        return Layout(tuple(blocks + [(b.name, b.width) for b in self.blocks]))

    @property
    def effective_text_weight(self) -> float:
        if not self.text_columns:
            return 0.0
        return self.text_weight if self.blocks else 1.0

    def column_weights(self) -> dict[str, float]:
        """Share of each tabular column in a lead's expected squared norm (they sum to 1 - text weight)."""
        raw = {c.name: b.weight for b in self.blocks for c in b.columns}
        total = sum(raw.values()) or 1.0
        return {k: (1.0 - self.effective_text_weight) * w / total for k, w in raw.items()}

    def block_weights(self) -> dict[str, float]:
        """Share of the text block and of each tabular block; they sum to 1."""
        cw = self.column_weights()
        out = {TEXT_BLOCK: self.effective_text_weight} if self.has_text else {}
        for b in self.blocks:
            out[b.name] = sum(cw[c.name] for c in b.columns)
        return out

    @property
    def columns(self) -> list[str]:
        cols = list(self.text_columns)
        for b in self.blocks:
            cols += [c.name for c in b.columns]
        return list(dict.fromkeys(cols))

    def _hash(self, payload: dict) -> str:
        return hashlib.sha256(json.dumps(_canonical(payload), sort_keys=True).encode()).hexdigest()[:12]

    @property
    def version(self) -> str:
        """Everything that decides a vector (the text calibration included)."""
        return "fs2-" + self._hash(self.model_dump(mode="json", exclude=_NOT_IN_VERSION))

    @property
    def features_version(self) -> str:
        """Everything that decides a lead's features and text blob (not the text calibration, which only
        decides how the embedding is combined)."""
        return "fs2-" + self._hash(self.model_dump(mode="json", exclude={"text_calibration"}))

    def needs_calibration(self, encoder_version: str) -> bool:
        return self.has_text and (self.text_calibration is None or self.text_calibration.encoder != encoder_version)


def _canonical(obj: Any) -> Any:
    """The same value after a trip through jsonb: floats at 12 significant digits, no negative zero."""
    if isinstance(obj, float):
        return float(f"{obj:.12g}") + 0.0
    if isinstance(obj, dict):
        return {k: _canonical(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_canonical(v) for v in obj]
    return obj


# ---------------------------------------------------------------------------------------------------------
# Values


def _normal_score(p: float) -> float:
    from scipy.special import ndtri

    return float(ndtri(min(max(p, 1e-4), 1 - 1e-4)))


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
    """A number from a stored value; a string that is not plainly one (or an ambiguous decimal comma) is None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return parse_number(value)
    except AmbiguousNumber:
        return None


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
    payload = json.dumps([feats, blob, spec.features_version], sort_keys=True, default=str).encode()
    return feats, blob, hashlib.sha256(payload).hexdigest()


# ---------------------------------------------------------------------------------------------------------
# Vectors


def assemble(features: Sequence[Mapping[str, Any]], text_vectors: np.ndarray | None, spec: FeatureSpec) -> np.ndarray:
    """(n, DIM) float32 vectors before the final unit normalization: the calibrated text block and the centred,
    weighted tabular blocks (rows with nothing at all stay zero)."""
    n = len(features)
    out = np.zeros((n, DIM), dtype=np.float32)
    slices = spec.layout.slices()
    if spec.has_text:
        if text_vectors is None or spec.text_calibration is None:
            raise FeatureError("the text block needs the tenant's text calibration (refresh_embeddings makes it)")
        cal = spec.text_calibration
        t = np.asarray(text_vectors, dtype=np.float32)
        present = np.linalg.norm(t, axis=1) > 0
        centred = (t - np.asarray(cal.mean, dtype=np.float32)) * cal.scale
        out[:, slices[TEXT_BLOCK]] = np.where(present[:, None], centred, 0.0) * math.sqrt(spec.effective_text_weight)
    weights = spec.column_weights()
    for block in spec.blocks:
        start = slices[block.name].start
        for col in block.columns:
            w = math.sqrt(weights[col.name])
            cache: dict[Any, np.ndarray] = {}
            for i, f in enumerate(features):
                v = f.get(col.name)
                if v is None:
                    continue
                vec = cache.get(v)
                if vec is None:
                    vec = cache[v] = col.encode(v) * w
                out[i, start:start + col.width] = vec
            start += col.width
    return out


def calibrate_text(encoder_version: str, vectors: np.ndarray, **how: Any) -> TextCalibration:
    """The mean and scale of a tenant's text embeddings (a sample of its distinct texts)."""
    v = np.asarray(vectors, dtype=np.float64)
    v = v[np.linalg.norm(v, axis=1) > 0]
    if not len(v):
        return TextCalibration(encoder=encoder_version, mean=[0.0] * TEXT_DIM, scale=1.0, **how)
    mean = v.mean(axis=0)
    ms = float(((v - mean) ** 2).sum(axis=1).mean())
    return TextCalibration(encoder=encoder_version, mean=[round(float(x), 7) for x in mean],
                           scale=1.0 / math.sqrt(ms) if ms > 1e-12 else 1.0, **how)


# ---------------------------------------------------------------------------------------------------------
# Building a spec from a tenant's leads


DEMO_BLOCKS: dict[str, list[tuple[str, ColumnKind]]] = {
    "engagement": [("email_opens", "numeric"), ("web_visits", "numeric")],
    "geography": [("country", "categorical"), ("region", "categorical")],
    "industry": [("industry", "categorical")],
    "property": [("property_type", "categorical")],
    "role": [("seniority", "categorical"), ("title", "categorical")],
    "size": [("company_size", "numeric")],
}
DEMO_TEXT_COLUMNS = ["title", "industry", "company", "bio"]


def infer_column_kinds(rows: Sequence[Mapping[str, Any]], columns: Iterable[str]) -> dict[str, ColumnKind | None]:
    """numeric when at least 95 % of the present values read as numbers; None for an empty column."""
    kinds: dict[str, ColumnKind | None] = {}
    for col in columns:
        present = [r.get(col) for r in rows if clean_value(r.get(col)) is not None]
        if not present:
            kinds[col] = None
            continue
        numeric = sum(as_number(v) is not None for v in present)
        kinds[col] = "numeric" if numeric >= 0.95 * len(present) else "categorical"
    return kinds


def _numeric_column(name: str, values: np.ndarray, bins: int) -> ColumnSpec | None:
    """Normal score from the empirical CDF (mid-ranks for ties) and quantile bins; centred and scaled over the
    leads that have a value (a missing value is encoded as the mean: zero)."""
    if values.size < 2 or np.unique(values).size < 2:
        return None
    srt = np.sort(values)
    uniq = np.unique(srt)
    knots = uniq if uniq.size <= CDF_KNOTS else np.unique(np.quantile(srt, np.linspace(0, 1, CDF_KNOTS)))
    lo = np.searchsorted(srt, knots, side="left")
    hi = np.searchsorted(srt, knots, side="right")
    cdf = (lo + hi) / 2 / len(srt)
    edges = np.unique(np.quantile(srt, np.linspace(0, 1, bins + 1)[1:-1]))
    col = ColumnSpec(name=name, kind="numeric", cdf_x=[float(x) for x in knots], cdf_p=[float(p) for p in cdf],
                     edges=[float(e) for e in edges])
    raws = np.stack([col.raw(x) for x in values])
    mean = raws.mean(axis=0)
    col.z_mean, col.frequencies = float(mean[0]), [float(x) for x in mean[1:]]
    ms = float(((raws - mean) ** 2).sum(axis=1).mean())
    col.scale = 1.0 / math.sqrt(ms) if ms > 1e-12 else 1.0
    return col


def _categorical_column(name: str, values: list[str], max_categories: int) -> ColumnSpec | None:
    """One-hot over the most frequent values (and "other"), centred and scaled over the leads with a value."""
    counts = Counter(values)
    if len(counts) < 2:
        return None  # one value for every lead that has one: it tells no lead from another
    named = [v for v, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if c >= MIN_CATEGORY_ROWS]
    named = named[:max_categories]
    freq = np.array([counts[v] for v in named] + [len(values) - sum(counts[v] for v in named)], dtype=float)
    freq /= max(len(values), 1)
    col = ColumnSpec(name=name, kind="categorical", categories=named, frequencies=[float(f) for f in freq],
                     coverage=round(float(freq[:-1].sum()), 4))
    ms = 1.0 - float((freq ** 2).sum())  # E||e - f||^2 of a centred one-hot
    col.scale = 1.0 / math.sqrt(ms) if ms > 1e-12 else 1.0
    return col


def build_spec(
    rows: Sequence[Mapping[str, Any]],
    blocks: Mapping[str, Sequence[tuple[str, ColumnKind | None]]],
    text_columns: Sequence[str] = (),
    text_weight: float = 0.4,
    block_weights: Mapping[str, float] | None = None,
) -> FeatureSpec:
    """A spec whose encodings come from ``rows`` (a sample of the tenant's leads). Columns with no value, or one
    value for every lead, are left out; blocks left empty are dropped. A kind of None is inferred. Widths are
    fitted to the vector: with text, 128 dimensions are left for the tabular blocks, 512 without."""
    all_cols = [c for cols in blocks.values() for c, _ in cols]
    inferred = infer_column_kinds(rows, all_cols)
    text_present = [c for c in text_columns if any(clean_value(r.get(c)) is not None for r in rows)]
    budget = DIM - (TEXT_DIM if text_present and text_weight > 0 else 0)
    max_categories, bins = MAX_CATEGORIES, NUMERIC_BINS
    while True:
        out: list[BlockSpec] = []
        for name in sorted(blocks):
            specs = []
            for col, kind in blocks[name]:
                kind = kind or inferred.get(col)
                if kind is None or inferred.get(col) is None:
                    continue
                if kind == "numeric":
                    vals = np.array([v for v in (as_number(clean_value(r.get(col))) for r in rows) if v is not None])
                    spec = _numeric_column(col, vals, bins)
                else:
                    vals = [str(v) for v in (clean_value(r.get(col)) for r in rows) if v is not None]
                    spec = _categorical_column(col, vals, max_categories)
                if spec is not None:
                    specs.append(spec)
            if specs:
                out.append(BlockSpec(name=name, columns=specs, weight=(block_weights or {}).get(name, 1.0)))
        width = sum(b.width for b in out)
        if width <= budget:
            break
        if max_categories <= 3 and bins <= 2:
            raise FeatureError(f"the columns need {width} dimensions, more than the {budget} left in a vector of "
                               f"{DIM}: leave some out (--exclude-columns)")
        max_categories, bins = max(3, max_categories // 2), max(2, bins - 2)
    if not out and not text_present:
        raise FeatureError("no column has values to compare leads by (every feature column is empty or holds one "
                           "value for every lead)")
    return FeatureSpec(text_columns=text_present, text_weight=text_weight, blocks=out)


def block_name(column: str) -> str:
    name = re.sub(r"[^a-z0-9_]", "_", column.lower()).strip("_") or "col"
    if not name[0].isalpha():
        name = "c_" + name
    return name[:40]


def one_block_per_column(columns: Iterable[tuple[str, ColumnKind | None]],
                         taken: Iterable[str] = ()) -> dict[str, list[tuple[str, ColumnKind | None]]]:
    """A block per column, named after it (in the order of the names: the file's column order does not matter)."""
    out: dict[str, list[tuple[str, ColumnKind | None]]] = {}
    taken = set(taken)
    for col, kind in sorted(columns):
        name = block_name(col)
        while name in taken or name in out or name == TEXT_BLOCK:
            name = f"attr_{name}"[:40]
        out[name] = [(col, kind)]
    return out
