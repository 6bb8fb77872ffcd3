"""A generic lead importer: a CSV, TSV or Parquet file into a tenant, by a column mapping and by inference.

* Every column gets a role with its reason (``domain/columns.py``): the id, personal identifiers (email, phone,
  names, postal code; kept for exports, never features), the lead fields lookalike knows, free text to embed,
  numbers, categories, dates. A mapping overrides any of it. ``dry_run`` shows all of it and writes nothing.
* Every row is either imported (inserted, updated or unchanged) or rejected with its row number and reason:
  missing or duplicate id, a malformed email, a number that is not one or out of range, a date that is not one,
  a NUL byte, a ragged row. A file is written in one transaction: all of its good rows, or nothing.
* Rows upsert by external id, and only the columns the file has are written: a file with an id and a new
  column updates that column and keeps the rest.
* The tenant's feature spec is set by its first import. A later file whose feature columns differ from the spec
  is refused with what differs, unless ``update_spec`` (every lead is then embedded again).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
from pydantic import BaseModel, ConfigDict, Field

from lookalike_assets.db.connect import APP_ROLE, tenant_transaction
from lookalike_assets.db.queries import Q
from lookalike_assets.domain import identifiers as ids
from lookalike_assets.domain.columns import (
    LEAD_DATE_FIELDS,
    LEAD_FIELDS,
    LEAD_INT_FIELDS,
    PERSONAL_FIELDS,
    ColumnPlan,
    normalize_name,
    plan_file,
    profile,
)
from lookalike_assets.domain.features import (
    DEMO_BLOCKS,
    DEMO_TEXT_COLUMNS,
    FeatureError,
    FeatureSpec,
    build_spec,
    one_block_per_column,
)
from lookalike_assets.domain.files import FileFormatError, Records, Table
from lookalike_assets.faults import fault_point
from lookalike_assets.pipeline.common import analyze_after_bulk
from lookalike_assets.pipeline.features import load_spec, save_spec
from lookalike_assets.pipeline.leads import LeadStage

MAX_TEXT = 10_000
MAX_SHORT = 500
MAX_ID = 200
INT_MAX = 2**31 - 1
NUMBER_LIMIT = 1e15
SPEC_SAMPLE = 20_000


class LeadImportError(ValueError):
    """The file or the mapping cannot be imported at all (nothing was written)."""


class SpecMismatchError(LeadImportError):
    """The file's feature columns differ from the tenant's feature spec."""


class ImportMapping(BaseModel):
    """Which file column is what. Columns not named anywhere are inferred when ``infer`` is on (the default),
    and ignored otherwise."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, description="External id column; upserts key on it.")
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    fields: dict[str, str] = Field(default_factory=dict, description="File column -> lead field (company, title, "
                                   "seniority, industry, company_size, country, region, bio, property_type, "
                                   "email_opens, web_visits, last_activity_at, zip, full_name).")
    text: list[str] = Field(default_factory=list, description="Free-text columns, embedded by the transformer.")
    categorical: list[str] = Field(default_factory=list)
    numeric: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list, description="Columns never imported (e.g. a label).")
    infer: bool = True
    columns: dict[str, dict] = Field(default_factory=dict, description="File column -> what it means (label, "
                                     "description, unit, scale, synonyms, kind), as `lookalike tenants columns` "
                                     "corrects it: audiences in words read it so.")

    def forced(self, columns: list[str]) -> dict[str, ColumnPlan]:
        """The plans this mapping decides, checked against the file's columns."""
        plans: dict[str, ColumnPlan] = {}
        named = [c for c in (self.id, self.email, self.phone, self.first_name, self.last_name) if c]
        named += [*self.fields, *self.text, *self.categorical, *self.numeric, *self.exclude, *self.columns]
        unknown = [c for c in dict.fromkeys(named) if c not in columns]
        if unknown:
            raise LeadImportError(f"the mapping names column(s) not in the file: {', '.join(unknown)} "
                                  f"(file columns: {', '.join(columns)})")

        def put(col: str, plan: ColumnPlan) -> None:
            if col in plans:
                raise LeadImportError(f"column {col!r} is mapped twice ({plans[col].target or plans[col].role} and "
                                      f"{plan.target or plan.role})")
            plans[col] = plan

        if self.id:
            put(self.id, ColumnPlan(self.id, "id", None, "given as the id column"))
        for f in ("email", "phone", "first_name", "last_name"):
            if getattr(self, f):
                put(getattr(self, f), ColumnPlan(getattr(self, f), "personal", f, f"given as {f}"))
        known = set(LEAD_FIELDS) | set(PERSONAL_FIELDS)
        for col, target in self.fields.items():
            if target not in known:
                raise LeadImportError(f"mapping.fields: {target!r} is not a lead field (one of: "
                                      f"{', '.join(sorted(known))})")
            role = "personal" if target in PERSONAL_FIELDS else "field"
            put(col, ColumnPlan(col, role, target, f"given as {target}"))
        for role in ("text", "categorical", "numeric"):
            for col in getattr(self, role):
                name = normalize_name(col)
                if name in LEAD_FIELDS and name not in LEAD_DATE_FIELDS:  # a lead field under its own name
                    put(col, ColumnPlan(col, "field", name, f"given as {role}; lookalike's {name} field"))
                else:
                    put(col, ColumnPlan(col, role, col, f"given as {role}"))
        for col in self.exclude:
            put(col, ColumnPlan(col, "ignored", None, "excluded"))
        return plans


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
    plan: list[ColumnPlan] = field(default_factory=list)
    spec: FeatureSpec | None = None
    spec_version: str | None = None  # set when this import set the tenant's spec
    warnings: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def columns(self) -> dict[str, str]:
        """file column -> what it became ('id', 'email', 'title', 'numeric', 'ignored', ...)."""
        out = {}
        for p in self.plan:
            out[p.column] = p.target if p.role in ("field", "personal") else p.role
        return out

    @property
    def imported(self) -> int:
        return self.inserted + self.updated + self.unchanged


def read_table(path: str | Path, limit: int | None = None, encoding: str | None = None) -> Table:
    try:
        return Table(path, encoding=encoding, limit=limit)
    except FileFormatError as exc:
        raise LeadImportError(str(exc)) from None


# ---------------------------------------------------------------------------------------------------------
# Rows


class RowConverter:
    """A file row as a lead dict (dedicated columns, personal identifiers, ``attributes``), or its reason."""

    def __init__(self, plan: list[ColumnPlan], sample: list[dict], fallback_prefix: str | None) -> None:
        self.plan = [p for p in plan if p.role not in ("ignored", "identifier")]
        self.id_col = next((p.column for p in plan if p.role == "id"), None)
        self.fallback = fallback_prefix
        self.styles = {p.column: profile([r.get(p.column) for r in sample]).number_style
                       for p in self.plan if p.kind == "numeric"}
        self.latest = datetime.now(timezone.utc) + timedelta(days=1)

    def external_id(self, values: dict, row: int) -> str | None:
        if self.id_col is None:
            return f"{self.fallback}:{row}"
        v = values.get(self.id_col)
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return None
        s = str(v).strip()
        return s or None

    def convert(self, values: dict, row: int) -> tuple[dict, str | None]:
        ext = self.external_id(values, row)
        if ext is None:
            return {}, f"missing id in column {self.id_col!r}"
        if len(ext) > MAX_ID:
            return {"external_id": ext[:40]}, f"id longer than {MAX_ID} characters"
        lead: dict[str, Any] = {"external_id": ext, "attributes": {}}
        for p in self.plan:
            if p.role == "id":
                continue
            raw = values.get(p.column)
            if isinstance(raw, float) and math.isnan(raw):
                raw = None
            if isinstance(raw, str):
                raw = raw.strip() or None
            try:
                self._put(lead, p, raw)
            except ValueError as exc:
                return lead, f"column {p.column!r}: {exc}"
        return lead, None

    def _put(self, lead: dict, p: ColumnPlan, raw: Any) -> None:
        target = p.target
        if p.role == "personal":
            if target == "email":
                if raw is not None:
                    norm = ids.normalize_email(raw)
                    if norm is None:
                        raise ValueError(f"{_show(raw)} is not an email address")
                    raw = norm
                lead["email"] = raw
            elif target == "phone":
                if raw is not None:
                    digits = sum(ch.isdigit() for ch in str(raw))
                    if not 5 <= digits <= 20 or len(str(raw)) > 40:
                        raise ValueError(f"{_show(raw)} is not a phone number")
                lead["phone"] = None if raw is None else str(raw)
            elif target == "full_name":
                first, _, last = (str(raw).rpartition(" ") if raw is not None and " " in str(raw).strip()
                                  else (raw, "", None))
                lead["first_name"] = _short(first)
                lead["last_name"] = _short(last)
            elif target == "zip":
                lead["attributes"]["zip"] = _short(raw)
            else:
                lead[target] = _short(raw)
            return
        if p.role == "field":
            if target in LEAD_INT_FIELDS:
                lead[target] = self._int(p, raw)
            elif target in LEAD_DATE_FIELDS:
                lead[target] = self._date(raw)
            else:
                lead[target] = _text(raw, MAX_TEXT if target == "bio" else MAX_SHORT)
            return
        key = target or p.column
        if p.role == "numeric":
            value = self._number(p, raw)
        elif p.role == "date":
            d = self._date(raw)
            value = d.isoformat() if d else None
        else:
            value = _text(raw, MAX_TEXT if p.role == "text" else MAX_SHORT)
        if value is not None:
            lead["attributes"][key] = value

    def _number(self, p: ColumnPlan, raw: Any) -> float | None:
        if raw is None:
            return None
        if isinstance(raw, bool):
            raise ValueError(f"{raw!r} is a yes/no value, not a number")
        try:
            v = ids.parse_number(raw, self.styles.get(p.column, "dot"))
        except ids.AmbiguousNumber as exc:
            raise ValueError(str(exc)) from None
        if v is None:
            raise ValueError(f"{_show(raw)} is not a number")
        if abs(v) > NUMBER_LIMIT:
            raise ValueError(f"{_show(raw)} is out of range (at most {NUMBER_LIMIT:.0e} in size)")
        return v

    def _int(self, p: ColumnPlan, raw: Any) -> int | None:
        v = self._number(p, raw)
        if v is None:
            return None
        if not float(v).is_integer() or not 0 <= v <= INT_MAX:
            raise ValueError(f"{_show(raw)} is not a whole number between 0 and {INT_MAX:,}")
        return int(v)

    def _date(self, raw: Any) -> datetime | None:
        if raw is None:
            return None
        d = ids.parse_datetime(raw)
        if d is None:
            raise ValueError(f"{_show(raw)} is not a date")
        if d.year < 1900 or d > self.latest:
            raise ValueError(f"{_show(raw)} is out of range (1900 to today)")
        return d


def _show(v: Any) -> str:
    return repr(str(v)[:40])


def _short(v: Any) -> str | None:
    return _text(v, MAX_SHORT)


def _text(v: Any, limit: int) -> str | None:
    if v is None:
        return None
    s = str(v)
    if len(s) > limit:
        raise ValueError(f"a value of {len(s):,} characters (at most {limit:,})")
    return s


# ---------------------------------------------------------------------------------------------------------
# The feature spec of an import


def spec_for_import(rows: list[dict], plan: list[ColumnPlan]) -> FeatureSpec | None:
    """Feature spec from the plan, fitted on ``rows`` (a uniform sample of the file's good rows): the demo's
    blocks for lookalike's own lead fields, a block per other feature column (in the order of their names, never
    the file's), and free text for the text encoder."""
    flat = [{**r.get("attributes", {}), **{k: v for k, v in r.items() if k != "attributes"}} for r in rows]
    feats = [p for p in plan if p.is_feature]
    fields = {p.target for p in feats if p.role == "field"}
    attrs = sorted((p for p in feats if p.role != "field"), key=lambda p: p.target or p.column)
    text = [c for c in DEMO_TEXT_COLUMNS if c in fields] + [p.target for p in attrs if p.role == "text"]
    blocks = {name: [(c, k) for c, k in cols if c in fields] for name, cols in DEMO_BLOCKS.items()}
    blocks = {n: cols for n, cols in blocks.items() if cols}
    blocks.update(one_block_per_column([(p.target, p.role) for p in attrs if p.role in ("categorical", "numeric")],
                                       taken=blocks))
    if not blocks and not text:
        return None
    try:
        return build_spec(flat, blocks, text)
    except FeatureError as exc:
        if "no column has values" in str(exc):
            return None  # the leads are imported; the spec waits for a file with something to compare them by
        raise


def spec_differences(old: FeatureSpec, new: FeatureSpec) -> list[str]:
    """What the new file would change in the spec's columns: new columns and columns whose kind changed.
    Columns the file does not have are fine (upserts keep them)."""
    def kinds(spec: FeatureSpec) -> dict[str, str]:
        out = {c: "text" for c in spec.text_columns}
        for b in spec.blocks:
            for c in b.columns:
                out.setdefault(c.name, c.kind)
        return out

    before, after = kinds(old), kinds(new)
    out = [f"new column {c!r} ({k})" for c, k in sorted(after.items()) if c not in before]
    out += [f"{c!r} was {before[c]}, the file makes it {k}" for c, k in sorted(after.items())
            if c in before and before[c] != k and not (before[c] == "text" or k == "text")]
    return out


# ---------------------------------------------------------------------------------------------------------
# Import


def column_corrections(mapping: ImportMapping, plan: list[ColumnPlan]) -> dict[str, dict]:
    """The mapping's column meanings, checked, by the name the column is imported as (before anything is
    written: a bad one imports nothing)."""
    from lookalike_assets.domain.meanings import MeaningError, check_correction

    by_column = {p.column: p for p in plan}
    out = {}
    for column, corr in mapping.columns.items():
        p = by_column[column]
        if p.role not in ("field", "text", "categorical", "numeric") or not p.target:
            raise LeadImportError(f"the mapping gives a meaning to {column!r}, which is not imported ({p.reason})")
        try:
            name = p.target if p.role == "field" else f"attributes.{p.target}"  # the rule field, as stored
            out[name] = check_correction(corr if isinstance(corr, dict) else {})
        except MeaningError as exc:
            raise LeadImportError(f"the meaning of column {column!r}: {exc}") from None
    return out


def import_leads(
    conn: psycopg.Connection,
    tenant_id: uuid.UUID,
    source: str | Path | Records,
    mapping: ImportMapping | None = None,
    *,
    batch_size: int = 5000,
    update_spec: bool = False,
    dry_run: bool = False,
    all_or_nothing: bool = False,
    encoding: str | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    limit: int | None = None,
) -> ImportReport:
    """Import a file (its path) or rows given in memory (``Records``) into the tenant in one transaction
    (``dry_run``: the same, rolled back)."""
    mapping = mapping or ImportMapping()
    table = source if isinstance(source, Records) else read_table(source, limit=limit, encoding=encoding)
    sample = table.sample(2000)
    forced = mapping.forced(table.columns)
    if mapping.infer:
        plan = plan_file(table.columns, sample, forced=forced)
    else:
        plan = [forced.get(c) or ColumnPlan(c, "ignored", None, "not mapped (inference is off)")
                for c in table.columns]
    report = ImportReport(plan=plan, dry_run=dry_run)
    meanings = column_corrections(mapping, plan)
    fallback = None
    if not any(p.role == "id" for p in plan):
        fallback = "row:" + hashlib.sha256(table.name.encode()).hexdigest()[:8]
        report.warnings.append("no id column: external ids are the file's row numbers, so re-importing another "
                               "file would not update these leads (give --id-column)")
    converter = RowConverter(plan, sample, fallback)
    present = sorted({"first_name" if p.target == "full_name" else p.target for p in plan
                      if p.role in ("field", "personal") and p.target in (*LEAD_FIELDS, *PERSONAL_FIELDS)
                      and p.target != "zip"} | ({"last_name"} if any(p.target == "full_name" for p in plan) else set()))
    attribute_keys = sorted({p.target or p.column for p in plan if p.role in ("text", "categorical", "numeric", "date")}
                            | ({"zip"} if any(p.target == "zip" for p in plan) else set()))

    spec_rows: list[dict] = []  # a uniform sample of the good rows (reservoir, seeded: the same file, the same spec)
    sampler = random.Random(0)
    good = 0
    seen: dict[str, int] = {}

    def good_rows() -> Iterator[dict]:
        nonlocal good
        for r in table.rows():
            report.rows += 1
            if r.problem is not None:
                report.rejected.append(Rejected(r.number, None, r.problem))
                continue
            lead, reason = converter.convert(r.values, r.number)
            ext = lead.get("external_id")
            if reason is None and ext in seen:
                reason = f"duplicate id {ext!r} (first at row {seen[ext]})"
            if reason is not None:
                report.rejected.append(Rejected(r.number, ext, reason))
                continue
            seen[ext] = r.number
            good += 1
            if len(spec_rows) < SPEC_SAMPLE:
                spec_rows.append(lead)
            elif (j := sampler.randrange(good)) < SPEC_SAMPLE:
                spec_rows[j] = lead
            yield lead

    with tenant_transaction(conn, tenant_id, APP_ROLE):
        current = load_spec(conn, tenant_id)
        stage = LeadStage(conn)
        batch: list[dict] = []
        for lead in good_rows():
            batch.append(lead)
            if len(batch) >= batch_size:
                stage.add(batch)
                batch = []
                if progress:
                    progress(report.rows, None)
        stage.add(batch)
        if progress:
            progress(report.rows, report.rows)
        if report.rows == 0:
            raise LeadImportError(f"{table.name} has no data rows")
        spec = spec_for_import(spec_rows, plan) if spec_rows else None
        report.spec = spec
        if current is not None and spec is not None and not update_spec:
            diff = spec_differences(current, spec)
            if diff:
                raise SpecMismatchError(
                    "the file's columns differ from the tenant's feature spec: " + "; ".join(diff)
                    + ". Nothing was imported. Give --update-spec to rebuild the spec from this file (every lead is "
                    "embedded again), or --exclude-columns to leave those columns out.")
        for name, corr in meanings.items():
            Q.describe.put_column_correction(conn, tenant_id=tenant_id, column_name=name, correction=json.dumps(corr))
        if spec_rows:
            report.inserted, report.updated, report.unchanged = stage.merge(tenant_id, present, attribute_keys)
            if spec is not None and (current is None or update_spec):
                save_spec(conn, tenant_id, spec)
                report.spec_version = spec.version
        fault_point("import:before-commit")
        if dry_run or (all_or_nothing and report.rejected):
            raise psycopg.Rollback()  # nothing written (all_or_nothing: a batch with a bad row stores no row)
    if not dry_run and not (all_or_nothing and report.rejected):
        analyze_after_bulk(conn, "leads", report.inserted)
    return report
