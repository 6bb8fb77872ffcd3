"""Holdouts and incrementality: a member's arm is a stable function of tenant, audience and lead; the control arm
never reaches an export (whole audience or segment) nor the exposure history; and the incrementality mart finds
the lift a simulation put in, and none where there was none."""

from __future__ import annotations

import csv
import dataclasses
import uuid

import pytest
from conftest import build_tenant, dbt, tenant_profile
from hypothesis import given, settings
from hypothesis import strategies as st

from lookalike_assets.db.connect import PIPELINE_ROLE, tenant_transaction
from lookalike_assets.domain.exports import LocalFolderDestination
from lookalike_assets.domain.holdout import arm, holdout_unit
from lookalike_assets.domain.rules import RuleError, parse_rules
from lookalike_assets.pipeline.demo import load_tenant
from lookalike_assets.pipeline.exports import run_exports
from lookalike_assets.pipeline.memberships import refresh_memberships


def test_the_share_held_out_is_the_percentage_and_raising_it_only_adds_to_control():
    t, a = uuid.uuid4(), uuid.uuid4()
    leads = [uuid.UUID(int=i * 7919 + 13) for i in range(20_000)]
    for pct in (5, 10, 25, 50):
        share = sum(arm(t, a, lead, pct) == "control" for lead in leads) / len(leads)
        assert abs(share - pct / 100) < 0.012, (pct, share)
    ten = {lead for lead in leads if arm(t, a, lead, 10) == "control"}
    twenty = {lead for lead in leads if arm(t, a, lead, 20) == "control"}
    assert ten < twenty
    assert all(arm(t, a, lead, 0) == "treatment" for lead in leads[:100])
    # another audience of the same tenant draws its own arms
    other = {lead for lead in leads if arm(t, uuid.uuid4(), lead, 10) == "control"}
    assert 0.05 < len(ten & other) / len(ten) < 0.15


@given(st.uuids(), st.uuids(), st.uuids())
@settings(max_examples=200, deadline=None)
def test_the_arm_depends_on_the_ids_only(t, a, lead):
    u = holdout_unit(t, a, lead)
    assert 0 <= u < 100
    assert holdout_unit(str(t).upper(), str(a), lead) == u  # any spelling of the same ids
    assert arm(t, a, lead, 30) == ("control" if u < 30 else "treatment")


def test_holdout_rules_are_validated():
    assert parse_rules({"holdout": {"percent": 10}}).holdout.percent == 10
    assert parse_rules({}).holdout.percent == 0
    with pytest.raises(RuleError, match=r"rules\.holdout\.percent: Input should be less than or equal to 50"):
        parse_rules({"holdout": {"percent": 60}})
    with pytest.raises(RuleError, match=r"rules\.holdout\.share: unknown key 'share'"):
        parse_rules({"holdout": {"share": 0.1}})


def arms_of(conn, tid, audience):
    with tenant_transaction(conn, tid, PIPELINE_ROLE):
        return {str(r[0]): (r[1], r[2], r[3]) for r in conn.execute(
            "select c.lead_id, m.arm, c.status, l.external_id from lookalike_audience_member m "
            "join lookalike_candidate c using (tenant_id, candidate_id) join leads l using (tenant_id, lead_id) "
            "join lookalike_audience a on a.tenant_id = m.tenant_id and a.audience_id = m.audience_id "
            "where a.name = %s", (audience,))}


def test_arms_are_kept_across_refreshes_and_control_is_never_exported(owner, conn, new_slug, tmp_path):
    t = load_tenant(owner, tenant_profile(0, new_slug("hold")), 1000, pool_size=500)
    name = "Lookalikes of won deals"
    owner.execute("update lookalike_audience set rules = rules || %s::jsonb where tenant_id = %s and name = %s",
                  ('{"holdout": {"percent": 30}, "destinations": [{"platform": "crm", "per_segment": true}]}',
                   t.tenant_id, name))
    build_tenant(conn, t.tenant_id, 500)
    with tenant_transaction(conn, t.tenant_id, PIPELINE_ROLE):
        aid = conn.execute("select audience_id from lookalike_audience where name = %s", (name,)).fetchone()[0]
    first = arms_of(conn, t.tenant_id, name)
    control = {lead for lead, (a, _s, _e) in first.items() if a == "control"}
    # a stable hash draws the arms: the share is binomial around 30 %, within 4 standard deviations
    share, sd = len(control) / len(first), (0.3 * 0.7 / len(first)) ** 0.5
    assert abs(share - 0.3) <= 4 * sd, (len(control), len(first))
    assert all(a == arm(t.tenant_id, aid, lead, 30) for lead, (a, _s, _e) in first.items())
    res = {r.name: r for r in refresh_memberships(conn, t.tenant_id)}[name]
    assert res.holdout == {"percent": 30, "treatment": len(first) - len(control), "control": len(control)}
    assert {k: v[0] for k, v in arms_of(conn, t.tenant_id, name).items()} == {k: v[0] for k, v in first.items()}

    results = [r for r in run_exports(conn, t.tenant_id, LocalFolderDestination(tmp_path), backoff_seconds=0.01)
               if r.audience == name]
    assert results and all(r.status == "succeeded" for r in results), [(r.format, r.status, r.error) for r in results]
    assert all(r.rows == len(first) - len(control) for r in results if r.segment_no is None)
    assert sum(r.rows for r in results if r.segment_no is not None and r.format == "crm") == len(first) - len(control)
    control_ext = {first[lead][2] for lead in control}
    exported: set[str] = set()
    for path in (tmp_path / t.slug).rglob("*.csv"):
        if path.name == "index.csv":
            continue
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                exported.add(row.get("external_id") or row.get("extern_id") or "")
    assert exported and not exported & control_ext
    after = arms_of(conn, t.tenant_id, name)
    assert {after[lead][1] for lead in control} <= {"accepted", "pending"}  # never "exported"
    with tenant_transaction(conn, t.tenant_id, PIPELINE_ROLE):
        exposed = {str(r[0]) for r in conn.execute("select lead_id from lookalike_exposure where audience_id = %s",
                                                   (aid,))}
    assert exposed == set(first) - control

    # a lower percentage moves members back to treatment, and only those above it
    owner.execute("update lookalike_audience set rules = jsonb_set(rules, '{holdout,percent}', '10') "
                  "where tenant_id = %s and name = %s", (t.tenant_id, name))
    refresh_memberships(conn, t.tenant_id)
    ten = {lead for lead, (a, _s, _e) in arms_of(conn, t.tenant_id, name).items() if a == "control"}
    assert ten < control and ten == {lead for lead in control if holdout_unit(t.tenant_id, aid, lead) < 10}


@pytest.mark.slow
def test_incrementality_finds_the_lift_it_was_given_and_none_where_there_was_none(owner, conn, new_slug, test_url,
                                                                                    tmp_path, monkeypatch):
    from lookalike_assets.pipeline.conversions import rebuild_facts, simulate_demo_conversions

    base = {"seed_set": {"labels": ["won", "meeting"]}}
    rules = {"reach": {"max_percent": 40}, "exclude": {"seeds": True}, "auto_publish": True,
             "holdout": {"percent": 50}, "destinations": ["crm"]}
    profile = dataclasses.replace(tenant_profile(1, new_slug("lift")), audiences=(
        {"name": "Caused", **base, "rules": rules}, {"name": "Inert", **base, "rules": rules}))
    t = load_tenant(owner, profile, 1500, pool_size=800)
    build_tenant(conn, t.tenant_id, 800)
    run_exports(conn, t.tenant_id, LocalFolderDestination(tmp_path), backoff_seconds=0.01)
    rep = simulate_demo_conversions(conn, t.tenant_id, uplift={"Caused": 0.3})
    rebuild_facts(conn, [str(t.tenant_id)], sorted(rep.days))
    res = dbt(test_url, "run")  # every model: the report reads the other marts too
    assert res.returncode == 0, res.stdout[-3000:]
    rows = {r[0]: r for r in owner.execute(
        "select audience_name, treatment_members, control_members, treatment_rate, control_rate, absolute_lift, "
        "ci_low, ci_high, significant from marts.mart_audience_incrementality "
        "where tenant_id = %s and period = 'all'", (t.tenant_id,))}
    assert set(rows) == {"Caused", "Inert"}
    caused, inert = rows["Caused"], rows["Inert"]
    assert caused[1] > 200 and caused[2] > 200  # a real study: both arms of hundreds
    assert caused[8] and caused[6] > 0 and caused[6] < caused[5] < caused[7]
    assert abs(float(caused[5]) - 0.3) < 0.1  # the uplift put in, found
    assert not inert[8] and inert[6] < 0 < inert[7]

    # where people look: `audiences show`, the report (table and chart) and the API's audience
    from lookalike_assets.db.connect import APP_ROLE, connect
    from lookalike_assets.pipeline.admin import audience_report
    from lookalike_assets.pipeline.incrementality import describe_lift
    from lookalike_assets.reporting.report import build_report, render_html

    app = connect(test_url, role=APP_ROLE)
    try:
        shown = audience_report(app, t.tenant_id, "Caused")
    finally:
        app.close()
    rep = build_report(conn, t.tenant_id, t.slug)  # as `lookalike report` does: the marts read as lookalike_bi
    assert shown["holdout"]["control"] == caused[2] and shown["incrementality"]["significant"] is True
    assert describe_lift(shown["incrementality"]).endswith(", significant")
    assert rep.lift_png and {r["audience_name"] for r in rep.incrementality} == {"Caused", "Inert"}
    page = render_html(rep)
    assert "Incrementality (holdouts" in page and "lift of treatment over control" in page
    # and in the Dagster UI where the marts are: the reports asset's metadata (issue 33 §7)
    import dagster as dg

    from lookalike_assets.defs.feedback.assets import performance_reports
    from lookalike_assets.defs.resources import LookalikeDatabase
    from lookalike_assets.settings import get_settings

    monkeypatch.setenv("LOOKALIKE_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    try:
        res = dg.materialize([performance_reports], resources={"db": LookalikeDatabase(database_url=test_url)})
    finally:
        get_settings.cache_clear()
    meta = res.get_asset_materialization_events()[0].materialization.metadata
    table = meta["incrementality"].value
    assert f"| {t.slug} | Caused |" in table and ", significant" in table and "| Inert |" in table

    # tuning from that evidence: with the tenant's economics, a recommended reach per audience, counting caused
    # conversions where the holdout showed a lift; applied (and logged) only where rules.auto_tune says so
    from lookalike_assets.db.admin import set_tuning_settings
    from lookalike_assets.pipeline.tuning import recommendations

    set_tuning_settings(owner, t.tenant_id, {"cost_per_contact": 1, "value_per_conversion": 20})
    recs, why = recommendations(conn, t.tenant_id, PIPELINE_ROLE)
    ids = {r[0]: r[1] for r in owner.execute("select name, audience_id from lookalike_audience where tenant_id = %s",
                                             (t.tenant_id,))}
    rec = recs[ids["Caused"]]
    assert why is None and rec.basis == "value" and rec.max_size and rec.expected_value > 0
    assert rec.caused_share is not None and 0 < rec.caused_share < 1 and "caused conversions" in rec.reason
    assert recs[ids["Inert"]].caused_share is None and "attributed" in recs[ids["Inert"]].reason
    owner.execute("update lookalike_audience set rules = rules || '{\"auto_tune\": true}'::jsonb "
                  "where tenant_id = %s and name = 'Caused'", (t.tenant_id,))
    built = {r.name: r for r in refresh_memberships(conn, t.tenant_id)}
    assert built["Caused"].tuned == {"before": {"max_percent": 40}, "after": {"max_percent": 40, "max_size": rec.max_size},
                                     "reason": rec.reason}
    assert built["Caused"].size <= rec.max_size and built["Inert"].tuned is None
    log_rows = owner.execute("select before, after, basis from lookalike_tuning_log where tenant_id = %s",
                             (t.tenant_id,)).fetchall()
    assert log_rows == [({"max_percent": 40}, {"max_percent": 40, "max_size": rec.max_size}, "value")]
    again = {r.name: r for r in refresh_memberships(conn, t.tenant_id)}
    assert again["Caused"].tuned is None  # already at its recommendation: nothing changes, nothing logged
    app = connect(test_url, role=APP_ROLE)
    try:
        shown = audience_report(app, t.tenant_id, "Caused")
    finally:
        app.close()
    assert shown["recommendation"]["max_size"] == rec.max_size and len(shown["tuning_history"]) == 1


def test_incrementality_is_intention_to_treat_and_keeps_converters_that_left(owner, conn, new_slug, test_url,
                                                                              tmp_path):
    """Issue 33 §14: the study was over today's members, so converters that exclude.customers removed after their
    deal_closed left the treatment arm and the lift shrank toward zero. Everyone ever assigned stays in the arm of
    their first assignment: after a refresh that excludes the converters, the arms and the lift are as before."""
    from lookalike_assets.pipeline.conversions import rebuild_facts, simulate_demo_conversions

    rules = {"reach": {"max_percent": 40}, "exclude": {"seeds": True, "customers": True}, "auto_publish": True,
             "holdout": {"percent": 50}, "destinations": ["crm"]}
    profile = dataclasses.replace(tenant_profile(1, new_slug("itt")), audiences=(
        {"name": "Caused", "seed_set": {"labels": ["won", "meeting"]}, "rules": rules},))
    t = load_tenant(owner, profile, 1500, pool_size=800)
    build_tenant(conn, t.tenant_id, 800)
    run_exports(conn, t.tenant_id, LocalFolderDestination(tmp_path), backoff_seconds=0.01)
    rep = simulate_demo_conversions(conn, t.tenant_id, uplift={"Caused": 0.3})
    rebuild_facts(conn, [str(t.tenant_id)], sorted(rep.days))

    def study():
        res = dbt(test_url, "run", "--select", "+mart_audience_incrementality")
        assert res.returncode == 0, res.stdout[-3000:]
        return owner.execute(
            "select treatment_members, control_members, treatment_rate, control_rate, absolute_lift, significant, "
            "treatment_conversions, control_conversions "
            "from marts.mart_audience_incrementality where tenant_id = %s and period = 'all'",
            (t.tenant_id,)).fetchone()

    def members_who_closed():
        with tenant_transaction(conn, t.tenant_id, PIPELINE_ROLE):
            return conn.execute(
                "select count(*) from lookalike_audience_member m join lookalike_candidate c using "
                "(tenant_id, candidate_id) where exists (select 1 from lookalike_conversion v where "
                "v.tenant_id = c.tenant_id and v.lead_id = c.lead_id and v.event_type = 'deal_closed')").fetchone()[0]

    before = study()
    assert before[0] > 200 and before[1] > 200 and before[5] and abs(float(before[4]) - 0.3) < 0.1
    assert members_who_closed() > 20  # the converters are members until the next refresh
    refresh_memberships(conn, t.tenant_id)  # exclude.customers now removes every lead with a closed deal
    assert members_who_closed() == 0
    run_exports(conn, t.tenant_id, LocalFolderDestination(tmp_path), backoff_seconds=0.01)  # as a run does
    after = study()
    # everyone assigned before is still counted in their arm with their conversions (the converters that left
    # included): no caused conversion leaves the treatment arm; the leads that joined since add to both arms
    assert after[6] == before[6] and after[7] == before[7]
    assert after[0] >= before[0] and after[1] >= before[1]
    # so the lift stays: significant, and diluted only by the newcomers' share (it fell toward 0 before)
    share_old = before[0] / after[0]
    assert after[5] and float(after[4]) > 0.8 * share_old * float(before[4])
