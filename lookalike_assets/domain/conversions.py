"""Conversion events: parsing and validating one event, and reading landing files (CSV or JSON lines).

An event has an id, a lead (``lead_id``, or the lead's ``lead_external_id``, or a ``candidate_id``), an event
type, an optional value, the time it happened and optional metadata. Files also name the tenant (``tenant``:
slug or id) on every row.

What a parser cannot accept raises ``ValueError`` with the reason; the caller quarantines that event alone.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from lookalike_assets.domain.files import FileFormatError, Table

EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# Event types that count as a conversion of the candidate; engagement types are facts, not conversions.
CONVERSION_TYPES = frozenset({"reply", "meeting", "deal_closed", "signup", "purchase", "subscribe"})
ENGAGEMENT_TYPES = frozenset({"sent", "delivered", "impression", "open", "click", "visit", "bounce", "unsubscribe",
                              "complaint"})
EVENT_TYPES = CONVERSION_TYPES | ENGAGEMENT_TYPES
MAX_FUTURE = timedelta(days=1)
MAX_METADATA_BYTES = 64 * 1024
REQUIRED_COLUMNS = ("event_id", "event_type", "occurred_at")
LEAD_COLUMNS = ("lead_id", "lead_external_id", "candidate_id")
TENANT_COLUMNS = ("tenant", "tenant_id")


class ConversionFileError(ValueError):
    """A file that cannot be read as conversion events at all (nothing of it was used)."""


@dataclass(frozen=True)
class ConversionEvent:
    event_id: str
    event_type: str
    occurred_at: datetime
    value: float | None = None
    lead_id: uuid.UUID | None = None
    lead_external_id: str | None = None
    candidate_id: uuid.UUID | None = None
    metadata: dict = field(default_factory=dict)

    @property
    def day(self) -> date:
        return self.occurred_at.astimezone(timezone.utc).date()

    def fingerprint(self, lead: uuid.UUID) -> tuple:
        """What makes two events with the same id the same event."""
        return (str(lead), self.event_type, None if self.value is None else round(self.value, 2),
                self.occurred_at.astimezone(timezone.utc).isoformat(), json.dumps(self.metadata, sort_keys=True))


def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


def _no_nul(v: Any, what: str) -> None:
    if isinstance(v, str) and "\x00" in v:
        raise ValueError(f"{what} contains a NUL byte")


def _uuid(v: Any, name: str) -> uuid.UUID | None:
    if _blank(v):
        return None
    try:
        return uuid.UUID(str(v).strip())
    except ValueError:
        raise ValueError(f"{name} {str(v)[:60]!r} is not a UUID") from None


def _check_json(obj: Any, depth: int = 0) -> None:
    if depth > 20:
        raise ValueError("metadata is nested more than 20 levels deep")
    if isinstance(obj, str):
        _no_nul(obj, "metadata")
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _no_nul(k, "metadata")
            _check_json(v, depth + 1)
    elif isinstance(obj, list):
        for v in obj:
            _check_json(v, depth + 1)
    elif isinstance(obj, float) and not math.isfinite(obj):
        raise ValueError("metadata holds a number that is not finite")


def parse_event(raw: Mapping[str, Any], now: datetime | None = None, *, since: date | None = None,
                metadata_max_bytes: int = MAX_METADATA_BYTES) -> ConversionEvent:
    """One event from a dict; raises ValueError with the reason. ``since``: the first day events may fall on."""
    now = now or datetime.now(timezone.utc)
    for k, v in raw.items():
        _no_nul(v, f"{k}")
    event_id = raw.get("event_id")
    if _blank(event_id):
        raise ValueError("missing event_id")
    event_id = str(event_id).strip()
    if len(event_id) > 200:
        raise ValueError("event_id longer than 200 characters")
    etype = str(raw.get("event_type") or "").strip().lower()
    if not EVENT_TYPE.match(etype):
        raise ValueError(f"invalid event_type {etype[:40]!r} (lower-case letters, digits, underscores)")
    if etype not in EVENT_TYPES:
        raise ValueError(f"unknown event_type {etype!r} (conversions: {', '.join(sorted(CONVERSION_TYPES))}; "
                         f"engagement: {', '.join(sorted(ENGAGEMENT_TYPES))})")
    ts = raw.get("occurred_at")
    if _blank(ts):
        raise ValueError("missing occurred_at")
    if isinstance(ts, datetime):
        when = ts
    else:
        try:
            when = datetime.fromisoformat(str(ts).strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"occurred_at {str(ts)[:40]!r} is not an ISO 8601 time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    if when > now + MAX_FUTURE:
        raise ValueError(f"occurred_at {when.isoformat()} is in the future")
    if since is not None and when.astimezone(timezone.utc).date() < since:
        raise ValueError(f"occurred_at {when.date().isoformat()} is before {since.isoformat()}, the first day "
                         "lookalike keeps events for (LOOKALIKE_EVENTS_SINCE)")
    value = raw.get("value")
    if isinstance(value, bool):
        raise ValueError(f"value {str(value).lower()} is a yes/no, not a number")
    if _blank(value):
        value = None
    else:
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"value {str(value)[:40]!r} is not a number") from None
        if not math.isfinite(value) or abs(value) >= 1e12:
            raise ValueError("value out of range")
    meta = raw.get("metadata") or {}
    if isinstance(meta, str):
        if len(meta.encode("utf-8", "replace")) > metadata_max_bytes:
            raise ValueError(f"metadata larger than {metadata_max_bytes:,} bytes")
        try:
            meta = json.loads(meta) if meta.strip() else {}
        except (json.JSONDecodeError, RecursionError):
            raise ValueError("metadata is not valid JSON") from None
    if not isinstance(meta, dict):
        raise ValueError("metadata must be a JSON object")
    _check_json(meta)
    if len(json.dumps(meta).encode("utf-8")) > metadata_max_bytes:
        raise ValueError(f"metadata larger than {metadata_max_bytes:,} bytes")
    lead_id = _uuid(raw.get("lead_id"), "lead_id")
    cand = _uuid(raw.get("candidate_id"), "candidate_id")
    ext = None if _blank(raw.get("lead_external_id")) else str(raw.get("lead_external_id")).strip()
    if lead_id is None and cand is None and ext is None:
        raise ValueError("no lead: give lead_id, lead_external_id or candidate_id")
    return ConversionEvent(event_id, etype, when, value, lead_id, ext, cand, meta)


def storable(raw: Any, limit: int = 4000) -> dict:
    """A quarantined event as JSON that PostgreSQL can store (no NUL characters, bounded size)."""
    def clean(v: Any, depth: int = 0) -> Any:
        if depth > 10:
            return "…"
        if isinstance(v, str):
            return v.replace("\x00", "\\0")[:1000]
        if isinstance(v, dict):
            return {clean(str(k)): clean(x, depth + 1) for k, x in list(v.items())[:50]}
        if isinstance(v, (list, tuple)):
            return [clean(x, depth + 1) for x in list(v)[:50]]
        if isinstance(v, float) and not math.isfinite(v):
            return str(v)
        if v is None or isinstance(v, (bool, int, float)):
            return v
        return clean(str(v))

    out = clean(raw if isinstance(raw, dict) else {"raw": raw})
    text = json.dumps(out, default=str)
    return out if len(text) <= limit else {"truncated": text[:limit]}


def read_events(path: str | Path, encoding: str | None = None) -> Iterator[tuple[int, dict]]:
    """(row or line number, raw dict) of a .csv or .jsonl file. A row that cannot be used yields a dict with
    ``__error__`` (and what could be read of it, so that its tenant is still known)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in (".csv", ".tsv"):
        try:
            table = Table(p, encoding=encoding)
        except FileFormatError as exc:
            raise ConversionFileError(str(exc)) from None
        cols = set(table.columns)
        missing = [c for c in REQUIRED_COLUMNS if c not in cols]
        if missing or not cols & set(LEAD_COLUMNS) or not cols & set(TENANT_COLUMNS):
            need = missing + ([" or ".join(LEAD_COLUMNS)] if not cols & set(LEAD_COLUMNS) else []) + \
                ([" or ".join(TENANT_COLUMNS)] if not cols & set(TENANT_COLUMNS) else [])
            raise ConversionFileError(
                f"{p.name} is not a conversion file: it has no {', '.join(need)} column (its columns: "
                f"{', '.join(table.columns[:12])}{', ...' if len(table.columns) > 12 else ''})")
        for row in table.rows():
            if row.problem is not None:
                yield row.number, {**(_partial(row.values)), "__error__": row.problem}
            else:
                yield row.number, {k.strip(): v for k, v in (row.values or {}).items()}
    elif suffix in (".jsonl", ".ndjson", ".json"):
        try:
            f = p.open(encoding=encoding or "utf-8", errors="strict")
            f.read(1 << 16)
            f.seek(0)
        except UnicodeDecodeError:
            raise ConversionFileError(f"{p.name} is not UTF-8 text; give its encoding (--encoding)") from None
        except OSError as exc:
            raise ConversionFileError(f"cannot read {p.name}: {exc}") from None
        with f:
            for i, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                if len(line) > 4 * MAX_METADATA_BYTES:
                    yield i, {"__error__": f"line of {len(line):,} characters is too long", "__raw__": line[:200]}
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield i, {"__error__": f"line is not valid JSON: {exc.msg}", "__raw__": line[:500]}
                    continue
                except RecursionError:
                    yield i, {"__error__": "line is nested too deeply", "__raw__": line[:200]}
                    continue
                yield i, obj if isinstance(obj, dict) else {"__error__": "line is not a JSON object",
                                                             "__raw__": line[:500]}
    else:
        raise ConversionFileError(f"unsupported conversion file {p.name!r}: use .csv or .jsonl")


def _partial(values: dict | None) -> dict:
    """What can be kept of an unusable row: its tenant and event id, to quarantine it in the right place."""
    if not values:
        return {}
    return {k: str(v)[:200] for k, v in values.items() if k in (*TENANT_COLUMNS, "event_id") and v is not None}
