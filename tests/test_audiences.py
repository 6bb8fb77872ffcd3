"""Memberships against the database: rules, reach, overlap exclusion, seed validation, publishing, and
an audience whose definition or seeds go bad keeps its last members."""

from __future__ import annotations

import psycopg
import pytest
from conftest import tenant_profile
from psycopg.types.json import Jsonb

from lookalike_assets.db.connect import APP_ROLE, PIPELINE_ROLE, tenant_transaction
from lookalike_assets.domain.encoder_choice import get_encoder
from lookalike_assets.domain.rules import RuleError
from lookalike_assets.pipeline import admin
from lookalike_assets.pipeline.demo import load_tenant
from lookalike_assets.pipeline.embeddings import refresh_embeddings
from lookalike_assets.pipeline.features import refresh_lead_features
from lookalike_assets.pipeline.memberships import refresh_memberships
from lookalike_assets.pipeline.pools import refresh_candidate_pools, refresh_seed_profiles


def rebuild(conn, tid):
    refresh_lead_features(conn, tid)
    e = refresh_embeddings(conn, tid, get_encoder("hashing"))
    refresh_seed_profiles(conn, tid, e.model_version)
    refresh_candidate_pools(conn, tid, 300)
    return {r.name: r for r in refresh_memberships(conn, tid)}


@pytest.fixture
def tenant(owner, conn, new_slug):
    t = load_tenant(owner, tenant_profile(0, new_slug("aud")), 800, pool_size=300)
    rebuild(conn, t.tenant_id)
    return t


def member_leads(conn, tid, name):
    with tenant_transaction(conn, tid, PIPELINE_ROLE):
        return {r[0] for r in conn.execute(
            "select c.lead_id from lookalike_audience_member m join lookalike_candidate c using (tenant_id, candidate_id) "
            "join lookalike_audience a on a.tenant_id = m.tenant_id and a.audience_id = m.audience_id "
            "where a.name = %s", (name,))}


def audience_row(conn, tid, name):
    with tenant_transaction(conn, tid, PIPELINE_ROLE):
        return conn.execute("select status, size_estimate, metadata from lookalike_audience where name = %s",
                            (name,)).fetchone()


def test_demo_rules_are_applied_and_published(conn, tenant):
    tid = tenant.tenant_id
    won = member_leads(conn, tid, "Lookalikes of won deals")
    engaged = member_leads(conn, tid, "Engaged lookalikes")
    assert len(won) == 80  # reach: 10 % of 800 embedded leads
    assert 0 < len(engaged) <= 200
    assert not won & engaged  # "Engaged" excludes members of "Lookalikes of won deals"
    status, size, meta = audience_row(conn, tid, "Lookalikes of won deals")
    assert status == "published" and size == 80
    m = meta["membership"]
    assert m["size"] == 80 and m["reach_curve"] and m["overlap"]["Engaged lookalikes"]["shared"] == 0
    with tenant_transaction(conn, tid, PIPELINE_ROLE):
        seeds = {r[0] for r in conn.execute("select lead_id from lookalike_seed where deleted_at is null")}
        low = conn.execute("select count(*) from leads l where l.web_visits < 1 and l.lead_id = any(%s)",
                           (list(engaged),)).fetchone()[0]
    assert not (won | engaged) & seeds
    assert low == 0


def test_rebuild_is_idempotent(conn, tenant):
    tid = tenant.tenant_id
    before = member_leads(conn, tid, "Lookalikes of won deals")
    res = refresh_memberships(conn, tid)
    assert all(r.added == 0 and r.removed == 0 for r in res)
    assert member_leads(conn, tid, "Lookalikes of won deals") == before


def test_invalid_rules_keep_last_members_and_report(conn, tenant):
    tid = tenant.tenant_id
    before = member_leads(conn, tid, "Lookalikes of won deals")
    with tenant_transaction(conn, tid, APP_ROLE):  # an application writes bad rules straight into the table
        conn.execute("update lookalike_audience set rules = %s where name = 'Lookalikes of won deals'",
                     (Jsonb({"filters": [{"field": "salary", "op": "gt", "value": 1}]}),))
    res = {r.name: r for r in refresh_memberships(conn, tid)}
    r = res["Lookalikes of won deals"]
    assert r.status == "skipped" and "unknown field 'salary'" in r.reason
    assert member_leads(conn, tid, "Lookalikes of won deals") == before
    assert "salary" in audience_row(conn, tid, "Lookalikes of won deals")[2]["membership"]["skipped"]


def test_empty_seed_set_keeps_members_and_reports(app, conn, tenant):
    tid = tenant.tenant_id
    before = member_leads(conn, tid, "Lookalikes of won deals")
    assert before
    with tenant_transaction(conn, tid, APP_ROLE):
        conn.execute("update lookalike_seed set deleted_at = now() where label = 'won'")
        extra = [r[0] for r in conn.execute("select external_id from leads where not is_seed order by external_id "
                                            "limit 5")]
    admin.add_seeds(app, tid, extra, label="meeting")  # "Engaged lookalikes" still has seeds
    res = rebuild(conn, tid)
    assert res["Lookalikes of won deals"].status == "skipped"
    assert "fewer than the minimum" in res["Lookalikes of won deals"].reason
    assert member_leads(conn, tid, "Lookalikes of won deals") == before
    assert res["Engaged lookalikes"].status == "built", res["Engaged lookalikes"].reason


def test_cli_validation_refuses_bad_definitions(app, conn, tenant):
    tid = tenant.tenant_id
    with pytest.raises(RuleError, match="unknown operator 'regex'"):
        admin.create_audience(app, tid, "bad", rules={"filters": [{"field": "industry", "op": "regex", "value": "."}]})
    with pytest.raises(ValueError, match="unknown seed label 'vip'"):
        admin.create_audience(app, tid, "bad", seed_set={"labels": ["vip"]})
    aid = admin.create_audience(app, tid, "Fintech only", seed_set={"labels": ["won"]},
                                rules={"filters": [{"field": "industry", "op": "eq", "value": "fintech"}],
                                       "auto_publish": False})
    with pytest.raises(admin.AdminError, match="exists already"):
        admin.create_audience(app, tid, "Fintech only")
    res = rebuild(conn, tid)
    assert res["Fintech only"].status == "built" and not res["Fintech only"].published
    assert audience_row(conn, tid, "Fintech only")[0] == "draft"
    assert admin.set_status(app, tid, str(aid), "published")
    assert not admin.set_status(app, tid, "Fintech only", "published")
    with tenant_transaction(conn, tid, PIPELINE_ROLE):
        inds = {r[0] for r in conn.execute(
            "select l.industry from lookalike_audience_member m join lookalike_candidate c using (tenant_id, candidate_id) "
            "join leads l on l.tenant_id = c.tenant_id and l.lead_id = c.lead_id where m.audience_id = %s", (aid,))}
    assert inds == {"fintech"}
    admin.set_status(app, tid, "Fintech only", "retired")
    assert "Fintech only" not in {r.name for r in refresh_memberships(conn, tid)}


def test_seed_validation_in_admin(app, owner, conn, tenant, two_tenants):
    tid = tenant.tenant_id
    b = two_tenants[1]
    with owner.transaction():
        foreign = owner.execute("select external_id, lead_id from leads where tenant_id = %s limit 1",
                               (b.tenant_id,)).fetchone()
        own = owner.execute("select external_id from leads where tenant_id = %s and not is_seed limit 2",
                           (tid,)).fetchall()
    res = admin.add_seeds(app, tid, [own[0][0], foreign[0], str(foreign[1]), own[1][0]], label="won")
    assert res.added == [own[0][0], own[1][0]]
    assert res.not_found == [foreign[0], str(foreign[1])]
    again = admin.add_seeds(app, tid, [own[0][0]], label="won")
    assert again.already == [own[0][0]]
    with pytest.raises(admin.AdminError, match="unknown seed label"):
        admin.add_seeds(app, tid, [own[0][0]], label="vip")
    assert admin.remove_seeds(app, tid, [own[0][0]]) == 1
    with tenant_transaction(conn, tid, PIPELINE_ROLE):
        is_seed = conn.execute("select is_seed from leads where external_id = %s", (own[0][0],)).fetchone()[0]
    assert not is_seed


def test_small_seed_set_gives_a_warning(owner, conn, new_slug):
    t = load_tenant(owner, tenant_profile(1, new_slug("few")), 300, pool_size=100)
    with tenant_transaction(conn, t.tenant_id, APP_ROLE):
        ids = [r[0] for r in conn.execute("select seed_id from lookalike_seed where deleted_at is null limit 5")]
        conn.execute("update lookalike_audience set seed_set = %s", (Jsonb({"seed_ids": [str(i) for i in ids]}),))
    res = rebuild(conn, t.tenant_id)
    assert all(r.status == "built" and any("only 5 seeds" in w for w in r.warnings) for r in res.values())


def test_members_cannot_be_written_by_the_app_role(app, tenant):
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        with tenant_transaction(app, tenant.tenant_id, APP_ROLE):
            app.execute("delete from lookalike_audience_member")


def test_an_audience_created_during_a_run_waits_for_the_next_one(app, conn, tenant):
    """Issue 33 §8: an audience created while the tenant's run was going (after its pools were chosen) failed
    `audiences_valid`. It waits for the next run (reported, not a failure); the next run builds it."""
    tid = tenant.tenant_id
    admin.create_audience(app, tid, "Made mid-run", seed_set={"labels": ["won"]})
    res = {r.name: r for r in refresh_memberships(conn, tid)}  # the run's memberships step, pools chosen before
    assert res["Made mid-run"].status == "waiting" and "next run" in res["Made mid-run"].reason
    assert all(r.status == "built" for n, r in res.items() if n != "Made mid-run")
    assert "membership" not in (audience_row(conn, tid, "Made mid-run")[2] or {})
    again = rebuild(conn, tid)  # the next run
    assert again["Made mid-run"].status == "built", again["Made mid-run"].reason
