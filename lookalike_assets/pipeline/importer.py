"""A generic lead importer: a CSV or Parquet file into a tenant, by a column mapping or by type inference.

Rows upsert by external id. Every row is either written (inserted or updated) or rejected with its row number
and reason; nothing is dropped silently. The same code serves the CLI and `lookalike backtest`.
"""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from pydantic import BaseModel, ConfigDict, Field

from lookalike_assets.db.connect import APP_ROLE, tenant_transaction
from lookalike_assets.domain.features import (
    DEMO_BLOCKS,
    FeatureSpec,
    as_number,
    auto_blocks,
    build_spec,
    infer_column_kinds,
)
from lookalike_assets.domain.vectors import TABULAR_BLOCKS
from lookalike_assets.pipeline.features import load_spec, save_spec
from lookalike_assets.pipeline.leads import upsert_leads

# Dedicated lead columns a file column of the same name goes to; the rest go to leads.attributes.
TYPED_TEXT = ("company", "industry", "country", "region", "title", "seniority", "bio", "property_type")
TYPED_INT = ("company_size", "email_opens", "web_visits")
IDENTIFIERS = ("email", "phone", "first_name", "last_name")
MAX_TEXT = 10_000
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class LeadImportError(ValueError):
    """The file or the mapping cannot be imported at all (nothing was written)."""


class ImportMapping(BaseModel):
    """Which file column is what. Columns not named anywhere are imported with inferred types when ``infer``
    is on, and ignored otherwise."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, description="External id column; upserts key on it.")
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    text: list[str] = Field(default_factory=list, description="Free-text columns, embedded by the transformer.")
    categorical: list[str] = Field(default_factory=list)
    numeric: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list, description="Columns never imported (e.g. a label).")
    infer: bool = True

    def named(self) -> list[str]:
        one = [c for c in (self.id, self.email, self.phone, self.first_name, self.last_name) if c]
        return one + self.text + self.categorical + self.numeric + self.exclude


@dataclass
class Rejected:
    row: int  # 1-based data row number (the header is row 0)
    external_id: str | None
    reason: str


@dataclass
class ImportReport:
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)  # file column -> how it was imported
    spec_version: str | None = None
    warnings: list[str] = field(default_factory=list)


def read_table(path: str | Path, columns: Sequence[str] | None = None, limit: int | None = None):
    """A CSV or Parquet file as a pandas DataFrame of strings/objects (no silent type coercion)."""
    import pandas as pd

    p = Path(path)
    if not p.exists():
        raise LeadImportError(f"file not found: {p}")
    suffix = p.suffix.lower()
    if suffix in (".parquet", ".pq"):
        df = pd.read_parquet(p, columns=list(columns) if columns else None)
        if limit:
            df = df.head(limit)
        return df.astype(object).where(df.notna(), None)
    if suffix in (".csv", ".txt", ".tsv") or suffix == "":
        sep = "\t" if suffix == ".tsv" else None
        try:
            df = pd.read_csv(p, dtype=str, keep_default_na=False, sep=sep, engine="python" if sep is None else "c",
                             nrows=limit, usecols=list(columns) if columns else None, on_bad_lines="error")
        except Exception as exc:
            raise LeadImportError(f"cannot read {p.name} as CSV: {exc}") from exc
        return df.astype(object).where(df != "", None)
    raise LeadImportError(f"unsupported file type {suffix!r}: use .csv, .tsv or .parquet")


def plan_columns(columns: Sequence[str], mapping: ImportMapping, sample: list[dict]) -> dict[str, str]:
    """file column -> role: id, email, phone, first_name, last_name, text, categorical, numeric, ignored."""
    unknown = [c for c in mapping.named() if c not in columns]
    if unknown:
        raise LeadImportError(f"mapping names column(s) not in the file: {', '.join(unknown)} "
                           f"(file columns: {', '.join(columns)})")
    roles: dict[str, str] = {}
    for role in ("id", "email", "phone", "first_name", "last_name"):
        col = getattr(mapping, role)
        if col:
            roles[col] = role
    for role in ("text", "categorical", "numeric"):
        for col in getattr(mapping, role):
            if col in roles:
                raise LeadImportError(f"column {col!r} is mapped twice ({roles[col]} and {role})")
            roles[col] = role
    for col in mapping.exclude:
        roles[col] = "ignored"
    rest = [c for c in columns if c not in roles]
    if mapping.infer:
        kinds = infer_column_kinds(sample, rest)
        for c in rest:
            k = kinds[c]
            if c in TYPED_INT:
                roles[c] = "numeric"
            elif c in ("bio",):
                roles[c] = "text"
            else:
                roles[c] = k or "ignored"
    else:
        for c in rest:
            roles[c] = "ignored"
    return roles


def _external_id(raw: Any, row_no: int, fallback_prefix: str | None) -> str | None:
    s = clean_id(raw)
    if s is None and fallback_prefix is not None:
        return f"{fallback_prefix}:{row_no}"
    return s


def clean_id(raw: Any) -> str | None:
    if raw is None or (isinstance(raw, float) and math.isnan(raw)):
        return None
    s = str(raw).strip()
    return s or None


def convert_row(rec: dict, roles: dict[str, str], row_no: int, fallback_prefix: str | None) -> tuple[dict, str | None]:
    """A file row as a lead dict, or the reason it is rejected."""
    id_col = next((c for c, r in roles.items() if r == "id"), None)
    ext = _external_id(rec.get(id_col) if id_col else None, row_no, fallback_prefix)
    if ext is None:
        return {}, f"missing id in column {id_col!r}"
    if len(ext) > 200:
        return {}, "id longer than 200 characters"
    lead: dict[str, Any] = {"external_id": ext, "attributes": {}}
    for col, role in roles.items():
        if role in ("id", "ignored"):
            continue
        v = rec.get(col)
        if isinstance(v, float) and math.isnan(v):
            v = None
        if isinstance(v, str):
            v = v.strip() or None
        if v is not None and isinstance(v, str) and len(v) > MAX_TEXT:
            return {}, f"column {col!r}: value longer than {MAX_TEXT} characters"
        if role in IDENTIFIERS:
            if role == "email" and v is not None and not EMAIL_RE.match(str(v)):
                return {}, f"column {col!r}: not an email address"
            lead[role] = None if v is None else str(v)
            continue
        if role == "numeric" and v is not None:
            num = as_number(v)
            if num is None:
                return {}, f"column {col!r}: {str(v)[:40]!r} is not a number"
            v = num
        if col in TYPED_INT:
            if v is not None and (not float(v).is_integer() or v < 0):
                return {}, f"column {col!r}: {v!r} is not a non-negative whole number"
            lead[col] = None if v is None else int(v)
        elif col in TYPED_TEXT:
            lead[col] = None if v is None else str(v)
        else:
            lead["attributes"][col] = v if role == "numeric" or v is None else str(v)
    return lead, None


def spec_for_import(rows: list[dict], roles: dict[str, str]) -> FeatureSpec:
    """Feature spec from the mapping: demo blocks for the dedicated columns, one block per other column while
    they fit, text columns to the text encoder."""
    flat = [{**r.get("attributes", {}), **{k: v for k, v in r.items() if k != "attributes"}} for r in rows]
    text = [c for c, r in roles.items() if r == "text"]
    tab = {c: r for c, r in roles.items() if r in ("categorical", "numeric")}
    typed_blocks = {name: [(c, k) for c, k in cols if c in tab] for name, cols in DEMO_BLOCKS.items()}
    typed_blocks = {n: cols for n, cols in typed_blocks.items() if cols}
    in_typed = {c for cols in typed_blocks.values() for c, _ in cols}
    others = [c for c in tab if c not in in_typed]
    free = TABULAR_BLOCKS - len(typed_blocks)
    blocks = dict(typed_blocks)
    if others and free > 0:
        for name, cols in auto_blocks(others, free).items():
            blocks[name if name not in blocks else f"attr_{name}"] = [(c, tab[c]) for c, _ in cols]
    return build_spec(flat, blocks, text)


def import_leads(
    conn: psycopg.Connection,
    tenant_id: uuid.UUID,
    path: str | Path,
    mapping: ImportMapping | None = None,
    *,
    batch_size: int = 5000,
    update_spec: bool = False,
    progress: Callable[[int, int], None] | None = None,
    limit: int | None = None,
) -> ImportReport:
    """Import ``path`` into the tenant. The feature spec is set from the mapping when the tenant has none
    (or when ``update_spec``)."""
    mapping = mapping or ImportMapping()
    df = read_table(path, limit=limit)
    if df.empty:
        raise LeadImportError(f"{Path(path).name} has no data rows")
    columns = [str(c) for c in df.columns]
    if len(set(columns)) != len(columns):
        raise LeadImportError("the file has duplicate column names")
    records = df.to_dict("records")
    roles = plan_columns(columns, mapping, records[:2000])
    report = ImportReport(rows=len(records), columns=roles)
    fallback = None
    if "id" not in roles.values():
        fallback = "row:" + hashlib.sha256(Path(path).name.encode()).hexdigest()[:8]
        report.warnings.append("no id column: external ids are the file's row numbers, so re-importing another "
                               "file would not update these leads (give --id-column)")
    seen: dict[str, int] = {}
    good: list[dict] = []
    for i, rec in enumerate(records, start=1):
        lead, reason = convert_row(rec, roles, i, fallback)
        if reason is None and lead["external_id"] in seen:
            reason = f"duplicate id {lead['external_id']!r} (first at row {seen[lead['external_id']]})"
        if reason is not None:
            report.rejected.append(Rejected(i, lead.get("external_id") or clean_id(rec.get(mapping.id or "")), reason))
            continue
        seen[lead["external_id"]] = i
        good.append(lead)
    with tenant_transaction(conn, tenant_id, APP_ROLE):
        have_spec = load_spec(conn, tenant_id) is not None
    if good and (update_spec or not have_spec):
        spec = spec_for_import(good[:20000], roles)
        with tenant_transaction(conn, tenant_id, APP_ROLE):
            save_spec(conn, tenant_id, spec)
        report.spec_version = spec.version
    done = 0
    for batch in _batches(good, batch_size):
        ins, upd = upsert_leads(conn, tenant_id, batch, APP_ROLE)
        report.inserted += ins
        report.updated += upd
        report.unchanged += len(batch) - ins - upd
        done += len(batch)
        if progress:
            progress(done, len(good))
    return report


def _batches(items: list, n: int) -> Iterator[list]:
    for i in range(0, len(items), n):
        yield items[i : i + n]
