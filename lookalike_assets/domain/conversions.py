"""Conversion events: parsing and validating one event, and reading landing files (CSV or JSON lines).

An event has an id, a lead (``lead_id``, or the lead's ``lead_external_id``, or a ``candidate_id``), an
event type, an optional value, the time it happened and optional metadata. Files also name the tenant
(``tenant``: slug or id) on every row.
"""

from __future__ import annotations

import csv
import json
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# Event types that count as a conversion of the candidate (others, like clicks, are engagement).
CONVERSION_TYPES = frozenset({"reply", "meeting", "deal_closed", "signup", "purchase", "subscribe"})
MAX_FUTURE = timedelta(days=1)


class ConversionFileError(ValueError):
    pass


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


def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


def _uuid(v: Any, name: str) -> uuid.UUID | None:
    if _blank(v):
        return None
    try:
        return uuid.UUID(str(v).strip())
    except ValueError:
        raise ValueError(f"{name} {str(v)[:60]!r} is not a UUID") from None


def parse_event(raw: Mapping[str, Any], now: datetime | None = None) -> ConversionEvent:
    """One event from a dict; raises ValueError with the reason."""
    now = now or datetime.now(timezone.utc)
    event_id = raw.get("event_id")
    if _blank(event_id):
        raise ValueError("missing event_id")
    event_id = str(event_id).strip()
    if len(event_id) > 200:
        raise ValueError("event_id longer than 200 characters")
    etype = str(raw.get("event_type") or "").strip().lower()
    if not EVENT_TYPE.match(etype):
        raise ValueError(f"invalid event_type {etype[:40]!r} (lower-case letters, digits, underscores)")
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
    value = raw.get("value")
    if _blank(value):
        value = None
    else:
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"value {str(value)[:40]!r} is not a number") from None
        if value != value or abs(value) >= 1e12:
            raise ValueError("value out of range")
    meta = raw.get("metadata") or {}
    if isinstance(meta, str):
        try:
            meta = json.loads(meta) if meta.strip() else {}
        except json.JSONDecodeError:
            raise ValueError("metadata is not valid JSON") from None
    if not isinstance(meta, dict):
        raise ValueError("metadata must be a JSON object")
    lead_id = _uuid(raw.get("lead_id"), "lead_id")
    cand = _uuid(raw.get("candidate_id"), "candidate_id")
    ext = None if _blank(raw.get("lead_external_id")) else str(raw.get("lead_external_id")).strip()
    if lead_id is None and cand is None and ext is None:
        raise ValueError("no lead: give lead_id, lead_external_id or candidate_id")
    return ConversionEvent(event_id, etype, when, value, lead_id, ext, cand, meta)


def read_events(path: str | Path) -> Iterator[tuple[int, dict]]:
    """(line or row number, raw dict) of a .csv or .jsonl file; a malformed JSON line yields a dict with
    ``__error__``."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".csv":
        with p.open(newline="", encoding="utf-8") as f:
            for i, row in enumerate(csv.DictReader(f), start=1):
                yield i, {k.strip(): v for k, v in row.items() if k is not None}
    elif suffix in (".jsonl", ".ndjson", ".json"):
        with p.open(encoding="utf-8") as f:
            for i, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield i, {"__error__": f"line is not valid JSON: {exc.msg}", "__raw__": line[:500]}
                    continue
                yield i, obj if isinstance(obj, dict) else {"__error__": "line is not a JSON object",
                                                             "__raw__": line[:500]}
    else:
        raise ConversionFileError(f"unsupported conversion file {p.name!r}: use .csv or .jsonl")
