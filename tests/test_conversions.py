"""The feedback loop: dedup and quarantine of events, late events, idempotent facts, files in the landing
folder through Dagster, and the day sensor."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import dagster as dg
import pytest
from conftest import build_tenant, tenant_profile

from lookalike_assets.db.connect import APP_ROLE, PIPELINE_ROLE, tenant_transaction
from lookalike_assets.db.queries import Q
from lookalike_assets.pipeline.conversions import rebuild_facts, record_conversions
from lookalike_assets.pipeline.demo import load_tenant

NOW = datetime.now(timezone.utc)


@pytest.fixture
def tenant(owner, conn, new_slug):
    t = load_tenant(owner, tenant_profile(0, new_slug("conv")), 300, pool_size=100)
    build_tenant(conn, t.tenant_id, 100, memberships=True)
    return t


def candidates(conn, tid, n=3):
    with tenant_transaction(conn, tid, PIPELINE_ROLE):
        return conn.execute(
            "select candidate_id, lead_id, external_id, audience_id from ("
            "  select distinct on (c.lead_id) c.candidate_id, c.lead_id, l.external_id, c.audience_id, c.similarity_score"
            "  from lookalike_candidate c join leads l using (tenant_id, lead_id)"
            "  order by c.lead_id, c.similarity_score desc) s "
            "order by similarity_score desc, lead_id limit %s", (n,)).fetchall()


def ev(event_id, lead=None, **kw):
    base = {"event_id": event_id, "event_type": "deal_closed", "occurred_at": NOW.isoformat(), "value": 100}
    if lead is not None:
        base["lead_id"] = str(lead)
    return {**base, **kw}


def quarantine(conn, tid):
    with tenant_transaction(conn, tid, PIPELINE_ROLE):
        return dict(conn.execute("select event_id, reason from lookalike_conversion_quarantine").fetchall())


def test_events_are_deduplicated_by_id(conn, tenant):
    (_c, lead, ext, _a), = candidates(conn, tenant.tenant_id, 1)
    first = record_conversions(conn, tenant.tenant_id, [ev("e1", lead), ev("e1", lead), ev("e2", lead_external_id=ext)])
    assert first.inserted == 2 and first.duplicates == 1 and not first.quarantined
    again = record_conversions(conn, tenant.tenant_id, [ev("e1", lead), ev("e3", lead)])
    assert again.inserted == 1 and again.duplicates == 1
    with tenant_transaction(conn, tenant.tenant_id, PIPELINE_ROLE):
        assert conn.execute("select count(*) from lookalike_conversion").fetchone()[0] == 3


def test_bad_events_are_quarantined_with_their_reason(owner, conn, tenant, two_tenants):
    (cand, lead, _ext, _a), = candidates(conn, tenant.tenant_id, 1)
    with owner.transaction():
        foreign = owner.execute("select lead_id from leads where tenant_id = %s limit 1",
                               (two_tenants[1].tenant_id,)).fetchone()[0]
    events = [
        ev("q1", foreign),
        ev("q2", "00000000-0000-0000-0000-00000000beef"),
        ev("q3", lead_external_id="nobody"),
        ev("q4", lead, event_type="Deal Closed!"),
        ev("q5", lead, occurred_at="yesterday-ish"),
        ev("q6", lead, occurred_at=(NOW + timedelta(days=3)).isoformat()),
        ev("q7", lead, value="lots"),
        ev("q8", lead, metadata="{not json"),
        ev("q9", candidate_id=str(foreign)),
        ev("q10"),
        {"event_type": "reply", "lead_id": str(lead), "occurred_at": NOW.isoformat()},
        ev("ok", candidate_id=str(cand)),
    ]
    rep = record_conversions(conn, tenant.tenant_id, events)
    assert rep.inserted == 1 and len(rep.quarantined) == 11
    q = quarantine(conn, tenant.tenant_id)
    assert "not a lead of this tenant" in q["q1"] and "not a lead of this tenant" in q["q2"]
    assert "unknown lead 'nobody'" in q["q3"]
    assert "invalid event_type" in q["q4"] and "not an ISO 8601" in q["q5"] and "in the future" in q["q6"]
    assert "not a number" in q["q7"] and "metadata is not valid JSON" in q["q8"]
    assert "not a candidate of this tenant" in q["q9"] and "no lead" in q["q10"] and "missing event_id" in q[None]
    # the other tenant sees none of it
    with tenant_transaction(conn, two_tenants[1].tenant_id, APP_ROLE):
        assert conn.execute("select count(*) from lookalike_conversion_quarantine").fetchone()[0] == 0


def test_late_events_land_in_their_day_and_facts_are_idempotent(conn, tenant):
    tid = tenant.tenant_id
    rows = candidates(conn, tid, 3)
    late_day = (NOW - timedelta(days=9)).date()
    rep = record_conversions(conn, tid, [
        ev("late-1", rows[0][1], occurred_at=(NOW - timedelta(days=9)).isoformat()),
        ev("today-1", rows[1][1], event_type="click"),
    ])
    assert rep.days == {late_day, NOW.date()}
    r1 = rebuild_facts(conn, [str(tid)], late_day)[0]
    assert r1.events == 1 and r1.facts >= 1 and r1.converted >= 1
    with tenant_transaction(conn, tid, PIPELINE_ROLE):
        snap = conn.execute("select conversion_id, audience_id, candidate_id, event_day, decile from "
                            "lookalike_conversion_fact order by 1, 2").fetchall()
        status = conn.execute("select status from lookalike_candidate where candidate_id = %s",
                              (rows[0][0],)).fetchone()[0]
    assert {s[3] for s in snap} == {late_day} and status == "converted"
    again = rebuild_facts(conn, [str(tid)], late_day)[0]
    assert again.replaced == r1.facts and again.facts == r1.facts and again.converted == 0
    with tenant_transaction(conn, tid, PIPELINE_ROLE):
        assert conn.execute("select conversion_id, audience_id, candidate_id, event_day, decile from "
                            "lookalike_conversion_fact order by 1, 2").fetchall() == snap
    # a click is a fact but does not convert the candidate
    rebuild_facts(conn, [str(tid)], NOW.date())
    with tenant_transaction(conn, tid, PIPELINE_ROLE):
        assert conn.execute("select status from lookalike_candidate where candidate_id = %s",
                            (rows[1][0],)).fetchone()[0] != "converted"


def test_landing_file_through_dagster_and_the_day_sensor(conn, tenant, test_url, tmp_path):
    from lookalike_assets.defs.feedback.assets import conversion_facts, landed_conversions
    from lookalike_assets.defs.feedback.resources import LandingFolder
    from lookalike_assets.defs.feedback.sensors import conversion_facts_sensor, conversion_landing_sensor
    from lookalike_assets.defs.resources import LookalikeDatabase

    tid = tenant.tenant_id
    rows = candidates(conn, tid, 2)
    start = Q.changes.change_horizon(conn)
    landing = LandingFolder(folder=str(tmp_path / "landing"))
    landing.path.mkdir(parents=True)
    late = (NOW - timedelta(days=4)).replace(microsecond=0)
    (landing.path / "crm-export.jsonl").write_text("\n".join([
        json.dumps({"tenant": tenant.slug, "event_id": "f1", "lead_external_id": rows[0][2],
                    "event_type": "meeting", "occurred_at": late.isoformat()}),
        json.dumps({"tenant": str(tid), "event_id": "f2", "lead_id": str(rows[1][1]), "event_type": "reply",
                    "occurred_at": NOW.isoformat()}),
        json.dumps({"tenant": "nobody-inc", "event_id": "f3", "lead_id": str(rows[1][1]), "event_type": "reply",
                    "occurred_at": NOW.isoformat()}),
        "{broken json",
    ]) + "\n")
    (landing.path / "notes.txt").write_text("ignored")

    instance = dg.DagsterInstance.ephemeral()
    req = conversion_landing_sensor(dg.build_sensor_context(instance=instance, resources={"landing": landing}))
    assert req.run_key.startswith("landing:")
    files = req.run_config["ops"]["landed_conversions"]["config"]["files"]
    assert [p.split("/")[-1] for p in files] == ["crm-export.jsonl"]
    res = dg.materialize([landed_conversions], instance=instance, run_config=req.run_config,
                         resources={"db": LookalikeDatabase(database_url=test_url), "landing": landing})
    assert res.success
    meta = res.get_asset_materialization_events()[0].materialization.metadata
    assert meta["inserted"].value == 2 and meta["quarantined"].value == 0
    assert not (landing.path / "crm-export.jsonl").exists()
    assert (landing.processed / "crm-export.jsonl").exists()
    orphans = (landing.processed / "crm-export.jsonl.unknown-tenant.csv").read_text()
    assert "unknown tenant 'nobody-inc'" in orphans and "line is not valid JSON" in orphans
    assert isinstance(conversion_landing_sensor(dg.build_sensor_context(instance=instance,
                                                                        resources={"landing": landing})), dg.SkipReason)

    # issue 33 §8: while a run building facts is in flight (the CLI's own), the sensor asks for nothing and keeps
    # its cursor: the days that run builds are not built twice
    import uuid as uuid_

    busy = str(uuid_.uuid4())
    instance.add_run(dg.DagsterRun(job_name="__ASSET_JOB", run_id=busy, status=dg.DagsterRunStatus.STARTED,
                                   asset_selection=frozenset({conversion_facts.key})))
    waiting = conversion_facts_sensor(dg.build_sensor_context(
        instance=instance, cursor=start, resources={"db": LookalikeDatabase(database_url=test_url)}))
    assert isinstance(waiting, dg.SkipReason) and "in flight" in waiting.skip_message
    instance.report_run_canceled(instance.get_run_by_id(busy))
    sensed = conversion_facts_sensor(dg.build_sensor_context(
        instance=instance, cursor=start, resources={"db": LookalikeDatabase(database_url=test_url)}))
    days = sorted(r.partition_key for r in sensed.run_requests)
    assert late.date().isoformat() in days and NOW.date().isoformat() in days
    out = dg.materialize([conversion_facts], instance=instance, partition_key=late.date().isoformat(),
                         resources={"db": LookalikeDatabase(database_url=test_url)})
    assert out.success
    with tenant_transaction(conn, tid, PIPELINE_ROLE):
        assert conn.execute("select count(*) from lookalike_conversion_fact where event_day = %s",
                            (late.date(),)).fetchone()[0] >= 1
    nothing = conversion_facts_sensor(dg.build_sensor_context(
        instance=instance, cursor=sensed.cursor, resources={"db": LookalikeDatabase(database_url=test_url)}))
    assert not nothing.run_requests


def test_poison_events_are_quarantined_alone(conn, tenant):
    """A NUL in one event's metadata, a yes/no value, events from year 1 or 1900, 10 MB of metadata, a type nobody
    knows, the same id with other content: each is quarantined with its reason and its neighbours land."""
    (_c, lead, _e, _a), = candidates(conn, tenant.tenant_id, 1)
    events = [
        ev("p-ok-1", lead),
        ev("p-nul", lead, metadata={"note": "bad\x00byte"}),
        ev("p-bool", lead, value=True),
        ev("p-year1", lead, occurred_at="0001-01-01T00:00:00+00:00"),
        ev("p-1900", lead, occurred_at="1900-06-01T00:00:00+00:00"),
        ev("p-big", lead, metadata={"blob": "x" * (10 * 1024 * 1024)}),
        ev("p-bought", lead, event_type="bought"),
        ev("p-ok-2", lead, event_type="click"),
        ev("p-ok-2", lead, event_type="meeting"),  # the same id, other content
    ]
    rep = record_conversions(conn, tenant.tenant_id, events)
    assert rep.inserted == 2, rep
    q = quarantine(conn, tenant.tenant_id)
    assert "NUL byte" in q["p-nul"] and "yes/no, not a number" in q["p-bool"]
    assert "before 2025-01-01" in q["p-year1"] and "before 2025-01-01" in q["p-1900"]
    assert "metadata larger than" in q["p-big"]
    assert "unknown event_type 'bought'" in q["p-bought"] and "appears twice with different content" in q["p-ok-2"]
    again = record_conversions(conn, tenant.tenant_id, [ev("p-ok-1", lead)])
    assert again.duplicates == 1 and not again.quarantined
    other = record_conversions(conn, tenant.tenant_id, [ev("p-ok-1", lead, value=999)])
    assert other.inserted == 0 and "recorded before with different content" in other.quarantined[0][1]


def test_ingest_builds_the_facts_and_says_what_it_could_not_use(cli_env, conn, tenant, tmp_path):
    from conftest import cli

    rows = candidates(conn, tenant.tenant_id, 3)
    day = (NOW - timedelta(days=2)).replace(microsecond=0)
    f = tmp_path / "events.csv"
    f.write_text("tenant,event_id,lead_external_id,event_type,occurred_at,value\n"
                 f"{tenant.slug},i1,{rows[0][2]},deal_closed,{day.isoformat()},100\n"
                 f"{tenant.slug},i2,{rows[1][2]},bought,{day.isoformat()},\n"
                 f"nobody-inc,i3,{rows[2][2]},reply,{day.isoformat()},\n"
                 f"{tenant.slug},i4,{rows[2][2]},reply,{day.isoformat()},,surplus\n"  # too many fields: its tenant's
                 '"unterminated,quote\n')
    code, out = cli("conversions", "ingest", str(f))
    assert code == 0, out
    out = " ".join(out.split())
    assert "1 new" in out and "2 quarantined" in out and "1 with an unknown tenant" in out, out
    assert "1 unreadable" in out and "the row has 7 field(s), the header has 6" in out
    assert "unknown event_type 'bought'" in out and "conversion facts of 1 day(s): ok" in out
    rejects = next((cli_env / "rejects").glob("events.csv.unknown-tenant.csv")).read_text()
    assert "unknown tenant 'nobody-inc'" in rejects
    with tenant_transaction(conn, tenant.tenant_id, PIPELINE_ROLE):
        assert conn.execute("select count(*) from lookalike_conversion_fact where event_day = %s",
                            (day.date(),)).fetchone()[0] >= 1
    # a leads file fed by mistake is refused as a whole, and a file with nothing usable exits non-zero
    leads = tmp_path / "leads.csv"
    leads.write_text("id,email,industry\n1,a@x.com,software\n")
    code, out = cli("conversions", "ingest", str(leads))
    assert code == 2 and "is not a conversion file" in out and "event_id" in out
    nothing = tmp_path / "nothing.csv"
    nothing.write_text(f"tenant,event_id,lead_id,event_type,occurred_at\nnobody,n1,{rows[0][1]},reply,{day.isoformat()}\n")
    code, out = cli("conversions", "ingest", str(nothing))
    assert code == 1 and "no event could be attributed" in out
    latin = tmp_path / "latin.csv"
    latin.write_bytes(f"tenant,event_id,lead_external_id,event_type,occurred_at,metadata\n"
                      f"{tenant.slug},l1,{rows[0][2]},reply,{day.isoformat()},\"{{\"\"note\"\": \"\"Zürich\"\"}}\"\n"
                      .encode("latin-1"))
    code, out = cli("conversions", "ingest", str(latin))
    assert code == 2 and "--encoding" in out
    code, out = cli("conversions", "ingest", str(latin), "--encoding", "latin-1", "--no-facts")
    assert code == 0 and "1 new" in out


def test_an_over_long_field_is_a_reason_not_a_stack_trace(conn, tenant, tmp_path):
    from lookalike_assets.pipeline.conversions import ingest_file

    (_c, lead, ext, _a), = candidates(conn, tenant.tenant_id, 1)
    f = tmp_path / "long.csv"
    f.write_text("tenant,event_id,lead_external_id,event_type,occurred_at,metadata\n"
                 f"{tenant.slug},long-1,{ext},reply,{NOW.isoformat()},\"{'y' * 131_073}\"\n"
                 f"{tenant.slug},long-2,{ext},click,{NOW.isoformat()},\n")
    res = ingest_file(conn, f, {tenant.slug: str(tenant.tenant_id)})
    assert res.report.inserted == 1 and len(res.report.quarantined) == 1
    assert "characters" in res.report.quarantined[0][1]


def test_a_poison_file_is_moved_aside_and_the_others_load(conn, tenant, test_url, tmp_path):
    from lookalike_assets.defs.feedback.assets import landed_conversions
    from lookalike_assets.defs.feedback.resources import LandingFolder
    from lookalike_assets.defs.resources import LookalikeDatabase

    (_c, lead, ext, _a), = candidates(conn, tenant.tenant_id, 1)
    landing = LandingFolder(folder=str(tmp_path / "landing"))
    landing.path.mkdir(parents=True)
    (landing.path / "a-poison.csv").write_bytes("tenant,event_id\nx,é\n".encode("latin-1"))
    (landing.path / "b-good.jsonl").write_text(json.dumps({"tenant": tenant.slug, "event_id": "pf-1",
                                                           "lead_external_id": ext, "event_type": "reply",
                                                           "occurred_at": NOW.isoformat()}) + "\n")
    res = dg.materialize([landed_conversions], instance=dg.DagsterInstance.ephemeral(),
                         resources={"db": LookalikeDatabase(database_url=test_url), "landing": landing})
    assert res.success
    assert (landing.processed / "b-good.jsonl").exists() and (landing.rejected / "a-poison.csv").exists()
    assert "not utf-8" in (landing.rejected / "a-poison.csv.reason.txt").read_text().lower()
    checks = {c.check_name: c.passed for c in res.get_asset_check_evaluations()}
    assert checks == {"no_rejected_files": False}


def test_the_landing_sensor_tries_again_after_a_failed_run(tmp_path):
    from lookalike_assets.defs.feedback.resources import LandingFolder
    from lookalike_assets.defs.feedback.sensors import LANDING_TAG, conversion_landing_sensor, ingest_conversions_job

    landing = LandingFolder(folder=str(tmp_path / "landing"))
    landing.path.mkdir(parents=True)
    (landing.path / "e.jsonl").write_text("{}\n")
    with dg.instance_for_test() as instance:
        first = conversion_landing_sensor(dg.build_sensor_context(instance=instance, resources={"landing": landing}))
        run = instance.create_run_for_job(ingest_conversions_job.resolve(asset_graph=_graph()),
                                          tags=first.tags, status=dg.DagsterRunStatus.FAILURE)
        assert run.tags[LANDING_TAG]
        again = conversion_landing_sensor(dg.build_sensor_context(instance=instance, resources={"landing": landing}))
        assert again.run_key == first.run_key + ":retry1"


def _graph():
    from lookalike_assets.definitions import defs

    return defs.resolve_asset_graph()


def test_the_report_says_the_marts_are_missing(conn, tenant, test_url):
    from lookalike_assets.db import migrate
    from lookalike_assets.db.connect import connect, ensure_database, with_database
    from lookalike_assets.reporting.report import NO_MARTS, build_report, render_html

    url = with_database(test_url, "lookalike_nomarts")
    ensure_database(url)
    migrate.upgrade(url)
    c = connect(url, role="lookalike_pipeline")
    try:
        rep = build_report(c, tenant.tenant_id, "x")
    finally:
        c.close()
    assert rep.missing == NO_MARTS and rep.decile_png is None
    assert "Nothing to show yet" in render_html(rep) and "lookalike marts" in render_html(rep)
