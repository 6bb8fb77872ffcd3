"""Property-based tests of what reads untrusted input: the lead importer and the conversion parser. Arbitrary
unicode, numbers and shapes: no exception escapes but the documented one for a file that cannot be read at all,
every row is imported or rejected with a reason, and the counts add up."""

from __future__ import annotations

import csv
import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lookalike_assets.db import admin as db_admin
from lookalike_assets.domain.conversions import ConversionFileError, parse_event, read_events, storable
from lookalike_assets.pipeline.conversions import record_conversions
from lookalike_assets.pipeline.importer import LeadImportError, import_leads

NOW = datetime(2026, 11, 1, tzinfo=timezone.utc)
DB_SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                       suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

numbers = st.one_of(st.integers(min_value=-(10**30), max_value=10**30), st.floats(allow_nan=True),
                    st.decimals(allow_nan=False, allow_infinity=False, places=3).map(str))
cells = st.one_of(st.just(""), st.text(max_size=40), numbers.map(str), st.sampled_from(
    ["1,5", "1.234,5", "02134", "yes", "true", "2026-13-45", "2026-01-02T03:04:05Z", "a@b.c", "not@", "\x00", "=1+1",
     "+49 30 1234567", "x" * 5000]))
header_names = st.one_of(st.text(min_size=1, max_size=12), st.sampled_from(
    ["id", "email", "first_name", "title", "employees", "notes", "country", "zip", "industry", "score", "company"]))


@st.composite
def csv_files(draw):
    columns = draw(st.lists(header_names, min_size=1, max_size=6))
    width = len(columns)
    rows = draw(st.lists(st.lists(cells, min_size=max(width - 1, 0), max_size=width + 1), max_size=25))
    return columns, rows


def blank_lines(rows, width: int) -> int:
    """Rows a reader skips as blank lines (not rows of the table)."""
    return sum(1 for r in rows if not r or (len(r) == 1 and not r[0].replace("\x00", "").strip() and width > 1))


@pytest.fixture
def tenant(owner, new_slug):
    return uuid.UUID(db_admin.create_tenant(owner, new_slug("prop"), "Properties"))


@DB_SETTINGS
@given(data=csv_files())
def test_every_row_is_imported_or_rejected_with_a_reason(conn, tenant, tmp_path_factory, data):
    columns, rows = data
    path = tmp_path_factory.mktemp("prop") / "leads.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(columns)
        w.writerows(rows)
    try:
        rep = import_leads(conn, tenant, path, dry_run=True)
    except LeadImportError as exc:  # the whole file cannot be used: said why, nothing written
        assert str(exc)
        return
    assert rep.rows == len(rows) - blank_lines(rows, len(columns))
    assert rep.imported + len(rep.rejected) == rep.rows
    assert all(r.reason and 1 <= r.row <= len(rows) for r in rep.rejected)
    assert len({r.row for r in rep.rejected}) == len(rep.rejected)


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=30)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)
event_fields = st.fixed_dictionaries({}, optional={
    "event_id": st.one_of(st.text(max_size=30), numbers, st.none()),
    "event_type": st.one_of(st.sampled_from(["reply", "deal_closed", "click", "Deal Closed!", ""]), st.text(max_size=12)),
    "occurred_at": st.one_of(st.datetimes(timezones=st.just(timezone.utc)).map(datetime.isoformat),
                             st.text(max_size=25), numbers, st.none()),
    "value": st.one_of(numbers, st.booleans(), st.text(max_size=10), st.none()),
    "metadata": st.one_of(json_values, st.text(max_size=40)),
    "lead_id": st.one_of(st.uuids().map(str), st.text(max_size=36), st.none()),
    "lead_external_id": st.one_of(st.text(max_size=20), st.none()),
    "candidate_id": st.one_of(st.uuids().map(str), st.text(max_size=10)),
})


@settings(max_examples=300, deadline=None, derandomize=True)
@given(raw=st.one_of(event_fields, st.dictionaries(st.text(max_size=10), json_values, max_size=6)))
def test_the_event_parser_returns_an_event_or_a_reason(raw):
    try:
        ev = parse_event(raw, now=NOW, since=NOW.date() - timedelta(days=3000))
    except ValueError as exc:
        assert str(exc)
    else:
        assert ev.event_id and ev.event_type and ev.occurred_at.tzinfo is not None
    kept = storable(raw)
    text = json.dumps(kept)
    assert "\x00" not in text and len(text) <= 4200


@DB_SETTINGS
@given(events=st.lists(event_fields, max_size=12))
def test_every_event_lands_is_a_duplicate_or_is_quarantined(conn, tenant, events):
    rep = record_conversions(conn, tenant, events)
    assert rep.received == len(events)
    assert rep.inserted + rep.duplicates + len(rep.quarantined) == len(events)
    assert all(reason for _id, reason in rep.quarantined)


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=csv_files(), jsonl=st.lists(st.one_of(st.text(max_size=60), json_values.map(json.dumps)), max_size=10))
def test_conversion_files_yield_rows_or_refuse_the_file(tmp_path_factory, data, jsonl):
    folder = tmp_path_factory.mktemp("events")
    columns, rows = data
    c = folder / "events.csv"
    with c.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["tenant", "event_id", "lead_id", "event_type", "occurred_at", *columns])
        w.writerows(rows)
    j = folder / "events.jsonl"
    j.write_text("\n".join(s.replace("\n", " ") for s in jsonl), encoding="utf-8")
    for path in (c, j):
        try:
            got = list(read_events(path))
        except ConversionFileError as exc:
            assert str(exc)
            continue
        assert all(isinstance(raw, dict) for _n, raw in got)
        if path is c:
            assert len(got) == len(rows) - blank_lines(rows, 5 + len(columns))
