"""The feedback loop: recording conversion events (from applications or landing files), quarantining what
cannot be accepted, attributing each day's events to candidates, and simulating the demo's outcomes."""

from __future__ import annotations

import json
import shutil
import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import psycopg
from psycopg.types.json import Jsonb

from lookalike_assets.db.connect import APP_ROLE, PIPELINE_ROLE, parse_tenant_id, tenant_transaction
from lookalike_assets.db.queries import Q
from lookalike_assets.domain.conversions import (
    CONVERSION_TYPES,
    ConversionEvent,
    parse_event,
    read_events,
    storable,
)
from lookalike_assets.domain.csvfiles import SafeWriter
from lookalike_assets.faults import fault_point
from lookalike_assets.settings import get_settings


@dataclass
class ConversionReport:
    received: int = 0
    inserted: int = 0
    duplicates: int = 0
    quarantined: list[tuple[str | None, str]] = field(default_factory=list)  # (event id, reason)
    days: set[date] = field(default_factory=set)

    def add(self, other: ConversionReport) -> None:
        self.received += other.received
        self.inserted += other.inserted
        self.duplicates += other.duplicates
        self.quarantined += other.quarantined
        self.days |= other.days


def record_conversions(conn: psycopg.Connection, tenant_id: uuid.UUID, events: list[dict], source: str = "api",
                       now: datetime | None = None, since: date | None = None) -> ConversionReport:
    """Accept a tenant's events: deduplicated by event id; anything invalid, naming a lead that is not the
    tenant's, or reusing an event id with other content, is quarantined with its reason in the same transaction,
    and its good neighbours land. Nothing is dropped silently."""
    settings = get_settings()
    since = since or settings.events_since
    rep = ConversionReport(received=len(events))
    parsed: list[tuple[dict, ConversionEvent]] = []
    bad: list[tuple[dict, str]] = []
    for raw in events:
        if "__error__" in raw:
            bad.append((raw, raw["__error__"]))
            continue
        try:
            parsed.append((raw, parse_event(raw, now, since=since, metadata_max_bytes=settings.metadata_max_bytes)))
        except ValueError as exc:
            bad.append((raw, str(exc)))
    with tenant_transaction(conn, tenant_id, APP_ROLE):
        lead_ids = [e.lead_id for _, e in parsed if e.lead_id]
        exts = [e.lead_external_id for _, e in parsed if e.lead_external_id]
        by_id, by_ext = {}, {}
        for lid, ext in Q.conversions.resolve_event_leads(conn, tenant_id=tenant_id, lead_ids=lead_ids, external_ids=exts):
            by_id[lid] = lid
            by_ext[ext] = lid
        cands = dict(Q.conversions.resolve_event_candidates(conn, tenant_id=tenant_id,
                                                ids=[e.candidate_id for _, e in parsed if e.candidate_id]))
        rows, seen = [], {}
        for raw, e in parsed:
            lead = None
            if e.candidate_id is not None:
                lead = cands.get(e.candidate_id)
                if lead is None:
                    bad.append((raw, f"unknown candidate {e.candidate_id} (not a candidate of this tenant)"))
                    continue
                if (e.lead_id and e.lead_id != lead) or (e.lead_external_id and by_ext.get(e.lead_external_id) != lead):
                    bad.append((raw, "candidate_id and lead do not match"))
                    continue
            elif e.lead_id is not None:
                lead = by_id.get(e.lead_id)
                if lead is None:
                    bad.append((raw, f"unknown lead {e.lead_id} (not a lead of this tenant)"))
                    continue
            else:
                lead = by_ext.get(e.lead_external_id)
                if lead is None:
                    bad.append((raw, f"unknown lead {e.lead_external_id!r} (not a lead of this tenant)"))
                    continue
            if e.event_id in seen:
                if seen[e.event_id] == e.fingerprint(lead):
                    rep.duplicates += 1
                else:
                    bad.append((raw, f"event id {e.event_id!r} appears twice with different content"))
                continue
            seen[e.event_id] = e.fingerprint(lead)
            rows.append((e.event_id, lead, e.candidate_id, e.event_type, e.value, e.occurred_at,
                         json.dumps(e.metadata)))
        if rows:
            Q.conversions.create_conversion_stage(conn)
            with conn.cursor() as cur, cur.copy(Q.conversions.copy_conversion_stage.sql) as copy:
                for r in rows:
                    copy.write_row(r)
            conflicts = {r[0] for r in Q.conversions.conflicting_events(conn, tenant_id=tenant_id)}
            if conflicts:
                Q.conversions.drop_staged_events(conn, event_ids=sorted(conflicts))
                by_event = {raw.get("event_id") and str(raw.get("event_id")).strip(): raw for raw, _ in parsed}
                for eid in sorted(conflicts):
                    bad.append((by_event.get(eid, {"event_id": eid}),
                                f"event id {eid!r} was recorded before with different content"))
            days = [r[0] for r in Q.conversions.merge_conversion_stage(conn, tenant_id=tenant_id, source=source)]
            rep.inserted = len(days)
            rep.duplicates += len(rows) - len(conflicts) - len(days)
            rep.days = set(days)
        for raw, reason in bad:
            clean = {k: v for k, v in raw.items() if not k.startswith("__")} or {"raw": raw.get("__raw__")}
            Q.conversions.quarantine_event(conn, tenant_id=tenant_id, event_id=_str(raw.get("event_id")),
                               raw=Jsonb(storable(clean)), reason=reason[:500], source=source[:200])
            rep.quarantined.append((_str(raw.get("event_id")), reason))
    return rep


def _str(v) -> str | None:
    return None if v is None else str(v).replace("\x00", "")[:200]


@dataclass
class FileIngest:
    file: str
    report: ConversionReport
    unknown_tenant_rows: int  # rows that name no tenant this deployment has
    moved_to: str | None
    rejects_file: str | None = None
    unreadable_rows: int = 0  # rows that could not be read far enough to know their tenant


def ingest_file(conn: psycopg.Connection, path: str | Path, tenants: dict[str, str], done_dir: Path | None = None,
                now: datetime | None = None, rejects_dir: Path | None = None,
                encoding: str | None = None) -> FileIngest:
    """A landing file of several tenants' events. ``tenants``: slug or id -> tenant id. Rows whose tenant is
    unknown cannot go to any tenant's quarantine: they are always written, with their reason, to
    ``<file>.unknown-tenant.csv`` in ``rejects_dir`` (default: ``done_dir``, else <LOOKALIKE_HOME>/rejects). The
    file is then moved to ``done_dir`` when given. Raises ConversionFileError (nothing used) when the file is not
    a conversion file at all."""
    p = Path(path)
    by_tenant: dict[str, list[dict]] = defaultdict(list)
    orphans: list[tuple[int, dict, str]] = []
    unreadable = 0
    for line, raw in read_events(p, encoding=encoding):
        ref = str(raw.get("tenant") or raw.get("tenant_id") or "").strip()
        tid = tenants.get(ref)
        if tid is None:
            if raw.get("__error__"):
                unreadable += 1  # not (known to be) a tenant problem: the row itself could not be read
            reason = raw.get("__error__") or (f"unknown tenant {ref[:60]!r}" if ref else "missing tenant")
            orphans.append((line, {k: v for k, v in raw.items() if k != "__error__"}, reason))
            continue
        by_tenant[tid].append({k: v for k, v in raw.items() if k not in ("tenant", "tenant_id")})
    total = ConversionReport()
    for tid, events in by_tenant.items():
        total.add(record_conversions(conn, parse_tenant_id(tid), events, source=f"file:{p.name}", now=now))
    total.received += len(orphans)
    rejects_file = None
    if orphans:
        folder = rejects_dir or done_dir or (get_settings().home / "rejects")
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{p.name}.unknown-tenant.csv"
        with target.open("w", newline="", encoding="utf-8") as f:
            w = SafeWriter(f)
            w.writerow(["line", "reason", "raw"])
            for line, raw, reason in orphans:
                w.writerow([line, reason, json.dumps(storable(raw), default=str)[:2000]])
        rejects_file = str(target)
    moved = None
    if done_dir is not None:
        moved = str(move_aside(p, done_dir))
    return FileIngest(p.name, total, len(orphans) - unreadable, moved, rejects_file, unreadable)


def move_aside(path: Path, folder: Path, reason: str | None = None) -> Path:
    """Move a landing file into ``folder`` (never over another file), with a ``.reason.txt`` beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    if target.exists():
        target = folder / f"{path.stem}-{uuid.uuid4().hex[:8]}{path.suffix}"
    shutil.move(str(path), target)
    if reason:
        (folder / f"{target.name}.reason.txt").write_text(reason + "\n", encoding="utf-8")
    return target


@dataclass
class FactsResult:
    tenant_id: str
    days: list[date]
    events: int
    facts: int
    replaced: int
    converted: int


def rebuild_facts(conn: psycopg.Connection, tenant_ids: list[str], days: date | list[date],
                  conversion_types: frozenset[str] = CONVERSION_TYPES) -> list[FactsResult]:
    """The facts of some days for each tenant, replaced in one transaction per tenant (idempotent)."""
    days = sorted(days) if isinstance(days, (list, set, tuple)) else [days]
    out = []
    for tid in tenant_ids:
        with tenant_transaction(conn, tid, PIPELINE_ROLE):
            replaced, facts, converted, events = Q.conversions.rebuild_facts_for_days(
                conn, tenant_id=tid, days=days, conversion_types=sorted(conversion_types))
        out.append(FactsResult(str(tid), days, events, facts, replaced, converted))
        fault_point("facts:after-first-tenant")
    return out


def simulate_demo_conversions(conn: psycopg.Connection, tenant_id: uuid.UUID, seed: int = 7, days: int = 30,
                              today: date | None = None,
                              uplift: Mapping[str, float] | None = None) -> ConversionReport:
    """Outcomes for the demo's candidates drawn from the generator's hidden propensity, recorded through the
    same path as real events (deterministic ids: a re-run adds nothing).

    ``uplift``: what being exported in an audience (by name) causes: a lead exported in it converts with its
    propensity plus that much (the largest uplift of the audiences that exported it; capped at 1). Default: the
    demo audiences' ``simulated_uplift``. A held-out (control) member was never exported, so it never gets it:
    what the incrementality mart has to find."""
    from lookalike_assets.domain.demo_data import SIMULATED_UPLIFT

    today = today or datetime.now(timezone.utc).date()
    uplift = SIMULATED_UPLIFT if uplift is None else uplift
    start = datetime.combine(today - timedelta(days=days), datetime.min.time(), timezone.utc)
    with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
        # the simulated history began `days` ago: the audiences were exported (and their holdouts drawn) then
        Q.conversions.backdate_demo_assignments(conn, tenant_id=tenant_id, start=start)
        rows = list(Q.conversions.demo_candidates_with_propensity(conn, tenant_id=tenant_id))
        boost: dict = {}
        for lead_id, audience in Q.conversions.demo_exposures(conn, tenant_id=tenant_id):
            boost[lead_id] = max(boost.get(lead_id, 0.0), float(uplift.get(audience, 0.0)))
    rng = np.random.default_rng([seed, int(uuid.UUID(str(tenant_id)).int % (2**32))])
    events = []
    now = datetime.now(timezone.utc)
    for lead_id, ext, p in rows:
        day_offset = int(rng.integers(0, days))
        # never later than now: an event of today falls in the part of the day that has passed
        when = min(datetime.combine(today - timedelta(days=day_offset), datetime.min.time(), timezone.utc) +
                   timedelta(seconds=int(rng.integers(0, 86400))), now)
        if rng.random() < min(1.0, p + boost.get(lead_id, 0.0)):
            kind = rng.choice(["reply", "meeting", "deal_closed"], p=[0.5, 0.3, 0.2])
            value = round(float(rng.gamma(2.0, 2500.0)), 2) if kind == "deal_closed" else None
            events.append({"event_id": f"sim-{ext}-conv", "lead_id": str(lead_id), "event_type": str(kind),
                           "value": value, "occurred_at": when.isoformat(), "metadata": {"simulated": True}})
        if rng.random() < 0.3:
            events.append({"event_id": f"sim-{ext}-click", "lead_id": str(lead_id), "event_type": "click",
                           "occurred_at": when.isoformat(), "metadata": {"simulated": True}})
    return record_conversions(conn, tenant_id, events, source="demo-simulation")
