"""Audiences described in words, against a tenant's own catalog (``domain/describe.py`` does the reading): the
catalog from the tenant's leads, seeds and settings, and a draft audience from a confirmed proposal."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import psycopg

from lookalike_assets.db.connect import APP_ROLE, tenant_transaction
from lookalike_assets.db.queries import Q
from lookalike_assets.domain.columns import LEAD_FIELDS, normalize_name
from lookalike_assets.domain.describe import (
    Catalog,
    CatalogField,
    Draft,
    VectorCache,
    draft_rules,
    number_field,
    text_field,
)
from lookalike_assets.pipeline.features import load_spec
from lookalike_assets.pipeline.memberships import attribute_types

MAX_VALUES = 300  # values of one field in the catalog at most (the most frequent)


class CatalogCache:
    """Tenants' catalogs kept for ``seconds`` (reading one scans the tenant's leads: about half a second at 100,000
    leads), so a person who drafts several descriptions in a row waits once. A change of the tenant's values shows
    in a draft at most ``seconds`` later. Bounded, thread-safe."""

    def __init__(self, seconds: float = 60.0, max_entries: int = 256) -> None:
        self.seconds, self.max_entries = seconds, max_entries
        self._items: dict[uuid.UUID, tuple[float, Catalog]] = {}
        self._lock = threading.Lock()

    def get(self, conn: psycopg.Connection, tenant_id: uuid.UUID, role: str = APP_ROLE) -> Catalog:
        now = time.monotonic()
        with self._lock:
            hit = self._items.get(tenant_id)
        if hit is not None and now - hit[0] < self.seconds:
            return hit[1]
        catalog = load_catalog(conn, tenant_id, role)
        with self._lock:
            if len(self._items) >= self.max_entries:
                self._items.pop(min(self._items, key=lambda k: self._items[k][0]))
            self._items[tenant_id] = (now, catalog)
        return catalog


def load_catalog(conn: psycopg.Connection, tenant_id: uuid.UUID, role: str = APP_ROLE) -> Catalog:
    """The tenant's fields and the values of its categorical ones; its live seeds by label; its glossary
    (tenant setting ``describe.glossary``: abbreviation -> words)."""
    with tenant_transaction(conn, tenant_id, role):
        values: dict[str, list[tuple[str, int]]] = {}
        for fld, value, n in Q.describe.catalog_values(conn, tenant_id=tenant_id):
            if len(values.setdefault(fld, [])) < MAX_VALUES:
                values[fld].append((value, n))
        presence = Q.describe.catalog_presence(conn, tenant_id=tenant_id)
        labels = {label: n for label, n in Q.describe.live_seed_labels(conn, tenant_id=tenant_id)}
        attrs = attribute_types(conn, tenant_id)
        stats = {r.key: r for r in Q.describe.numeric_stats(conn, tenant_id=tenant_id)}
        spec = load_spec(conn, tenant_id)
        tenant = Q.tenants.get_tenant(conn, tenant_id=tenant_id)
        corrections = {_field_of(r.column_name): r.correction
                       for r in Q.describe.column_corrections(conn, tenant_id=tenant_id)}
    settings = (tenant.settings or {}) if tenant else {}
    free_text = {c.name for b in (spec.blocks if spec else []) for c in b.columns if c.kind == "text"}
    fields: dict[str, CatalogField] = {}
    for fld, vals in values.items():
        attr = fld.removeprefix("attributes.")
        if fld.startswith("attributes.") and attrs.get(attr) != "text":
            continue
        fields[fld] = text_field(fld, [v for v, _ in vals], [n for _, n in vals],
                                 free_text=fld.startswith("attributes.") and attr in free_text,
                                 correction=corrections.get(fld))
    for name, n in presence._asdict().items():
        if n:
            fields[name] = CatalogField(name, "datetime" if name == "last_activity_at" else "number")
    for name, ftype in attrs.items():
        if ftype == "number":
            st = stats.get(name)
            fields[f"attributes.{name}"] = number_field(
                f"attributes.{name}", st.minimum if st else None, st.maximum if st else None,
                st.integral if st else None,
                list(st.few_values or []) if st and st.distinct_values <= 11 else [],
                corrections.get(f"attributes.{name}"))
    glossary = (settings.get("describe") or {}).get("glossary") or {}
    return Catalog(fields, labels, {str(k): str(v) for k, v in glossary.items()})


def _field_of(column: str) -> str:
    """The rule field of a column as a person names it: ``MntWines`` -> ``attributes.mnt_wines``."""
    return column if "." in column or column in LEAD_FIELDS else f"attributes.{normalize_name(column)}"


class UnknownColumn(LookupError):
    """A column the tenant does not have."""


def column_meanings(conn: psycopg.Connection, tenant_id: uuid.UUID, role: str = APP_ROLE) -> dict[str, Any]:
    """Every imported column's meaning (inferred, or as corrected), by rule field."""
    return load_catalog(conn, tenant_id, role).meanings()


def correct_column(conn: psycopg.Connection, tenant_id: uuid.UUID, column: str, correction: dict[str, Any] | None,
                   role: str = APP_ROLE, *, merge: bool = False) -> Any:
    """Correct what ``column`` means (``correction``: label, description, unit, scale, synonyms, kind; checked), or
    forget the correction (None). ``merge``: keep what an earlier correction said and this one does not (else it
    is replaced). Returns the column's meaning as it now reads."""
    import json

    from lookalike_assets.domain.meanings import check_correction

    meanings = column_meanings(conn, tenant_id, role)
    fld = column if column in meanings else _field_of(column)
    if fld not in meanings:
        fld = next((f for f in meanings
                    if f.removeprefix("attributes.").replace("_", "") == column.casefold().replace("_", "")), None)
    if fld is None:
        names = ", ".join(f.removeprefix("attributes.") for f in meanings) or "none"
        raise UnknownColumn(f"no imported column {column!r} in this tenant (its columns: {names})")
    checked = {} if correction is None else check_correction(correction)
    with tenant_transaction(conn, tenant_id, role):
        if merge and correction is not None:
            earlier = {_field_of(r.column_name): r.correction
                       for r in Q.describe.column_corrections(conn, tenant_id=tenant_id)}.get(fld, {})
            checked = {**earlier, **checked}
        Q.describe.put_column_correction(conn, tenant_id=tenant_id, column_name=fld, correction=json.dumps(checked))
    return column_meanings(conn, tenant_id, role)[fld]


# The reader's thresholds (a match by meaning is proposed only above them) were calibrated on the reference fp32
# model's vectors. A quantized backend moves a borderline match across a threshold (issue 32: on an AVX2-only CPU
# onnx-int8 keeps a mean cosine of 0.99 to fp32, and "women with a doctorate" lost its education filter), so the
# same words would give other filters on another CPU. The reader therefore always compares with the fp32 model: it
# encodes a few phrases and a tenant's catalog (cached), where speed matters little and sameness matters.
DESCRIPTION_ENCODER = "minilm-fp32"


def description_encoder() -> Any | None:
    """The tenant-independent text encoder that matches words by meaning: the reference fp32 MiniLM model when the
    configured encoder (``LOOKALIKE_ENCODER``) is a MiniLM one, whatever its backend; None for the hashing or no
    encoder (exact and fuzzy matching only; the draft says so)."""
    from lookalike_assets.settings import get_settings

    return _reference() if get_settings().encoder.startswith("minilm") else None


def meaning_encoder(encoder: Any) -> Any | None:
    """The encoder that matches words by meaning for a service whose lead encoder is ``encoder``: the reference
    fp32 MiniLM model when ``encoder`` is a MiniLM one (any backend), else None (the hashing encoder's vectors say
    nothing about meaning)."""
    version = str(getattr(encoder, "version", ""))
    if not version.startswith("minilm"):
        return None
    return encoder if version.endswith("+torch-fp32") else _reference()


def _reference() -> Any:
    from lookalike_assets.domain.encoder_choice import get_encoder

    return get_encoder(DESCRIPTION_ENCODER)


def describe_audience(conn: psycopg.Connection, tenant_id: uuid.UUID, description: str, encoder: Any | None,
                      cache: VectorCache | None = None, role: str = APP_ROLE,
                      catalogs: CatalogCache | None = None) -> Draft:
    """A proposal for ``description`` (nothing is written)."""
    catalog = catalogs.get(conn, tenant_id, role) if catalogs is not None else load_catalog(conn, tenant_id, role)
    return draft_rules(description, catalog, encoder, cache=cache)
