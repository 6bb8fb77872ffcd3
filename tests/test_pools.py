"""Two-stage audiences: the champion chooses the pool (not similarity), deciles follow the cut order, the pool
step publishes nothing on its own, and history (facts, exposures) outlives pool changes."""

from __future__ import annotations

import pytest
from conftest import build_tenant, tenant_profile
from psycopg.types.json import Jsonb

from lookalike_assets.db.connect import APP_ROLE, PIPELINE_ROLE, tenant_transaction
from lookalike_assets.pipeline.conversions import rebuild_facts, record_conversions
from lookalike_assets.pipeline.demo import load_tenant
from lookalike_assets.pipeline.memberships import refresh_memberships
from lookalike_assets.pipeline.pools import refresh_candidate_pools
from lookalike_assets.pipeline.ranking import RankingConfig, train_and_promote

WON = "Lookalikes of won deals"


@pytest.fixture
def tenant(owner, conn, new_slug):
    t = load_tenant(owner, tenant_profile(0, new_slug("pools")), 900, pool_size=150)
    build_tenant(conn, t.tenant_id, 150)
    return t


def q(conn, tid, sql, *args):
    with tenant_transaction(conn, tid, PIPELINE_ROLE):
        return conn.execute(sql, args).fetchall()


def audience_id(conn, tid, name=WON):
    return q(conn, tid, "select audience_id from lookalike_audience where name = %s", name)[0][0]


def published(conn, tid):
    """Every audience as a reader sees it: status, size and its members (lead ids)."""
    rows = q(conn, tid, "select a.name, a.status, a.size_estimate, "
             "coalesce(array_agg(c.lead_id order by c.lead_id) filter (where c.lead_id is not null), '{}') "
             "from lookalike_audience a left join lookalike_audience_member m using (tenant_id, audience_id) "
             "left join lookalike_candidate c on c.tenant_id = m.tenant_id and c.candidate_id = m.candidate_id "
             "group by 1, 2, 3 order by 1")
    return {r[0]: (r[1], r[2], tuple(r[3])) for r in rows}


def test_the_pool_of_a_tenant_with_a_champion_is_the_models_top_n(conn, tenant):
    tid = tenant.tenant_id
    aid = audience_id(conn, tid)
    similarity_pool = {r[0] for r in q(conn, tid, "select lead_id from lookalike_candidate where audience_id = %s", aid)}
    res = train_and_promote(conn, tid, RankingConfig(min_seeds=10))
    assert res.status == "promoted" and res.scored == 900  # every embedded lead, not only candidates
    pools = {p.name: p for p in refresh_candidate_pools(conn, tid, 150)}
    assert pools[WON].ordered_by == "ranking"
    seed_set = q(conn, tid, "select seed_set from lookalike_audience where audience_id = %s", aid)[0][0]
    excluded = {r[0] for r in q(conn, tid, "select lead_id from lookalike_seed where deleted_at is null "
                                "and label = any(%s)", seed_set["labels"])}
    top = [r[0] for r in q(conn, tid, "select lead_id from lookalike_lead_score order by score desc, lead_id")]
    expected = [lid for lid in top if lid not in excluded][:150]
    staged = q(conn, tid, "select lead_id, rank_score, decile from lookalike_pool_stage where audience_id = %s "
               "order by rank_score desc, lead_id", aid)
    assert [r[0] for r in staged] == expected
    assert set(expected) != similarity_pool  # the model chose, not similarity
    # deciles over the order the audience is cut by: 10 holds the highest rank scores
    assert [r[2] for r in staged[:15]] == [10] * 15 and [r[2] for r in staged[-15:]] == [1] * 15
    # publishing: the members are the pool's best by rank score, the candidates the model's top N
    refresh_memberships(conn, tid)
    cands = {r[0] for r in q(conn, tid, "select lead_id from lookalike_candidate where audience_id = %s", aid)}
    assert cands == set(expected)
    assert not q(conn, tid, "select 1 from lookalike_pool_stage")


def test_an_audience_can_ask_for_similarity(conn, tenant):
    tid = tenant.tenant_id
    aid = audience_id(conn, tid)
    with tenant_transaction(conn, tid, APP_ROLE):
        conn.execute("update lookalike_audience set metadata = metadata || %s where audience_id = %s",
                     (Jsonb({"pool_by": "similarity"}), aid))
    train_and_promote(conn, tid, RankingConfig(min_seeds=10))
    pools = {p.name: p for p in refresh_candidate_pools(conn, tid, 150)}
    assert pools[WON].ordered_by == "similarity"
    assert all(p.ordered_by == "ranking" for n, p in pools.items() if n != WON)
    staged = q(conn, tid, "select similarity_score, rank_score, decile from lookalike_pool_stage "
               "where audience_id = %s order by similarity_score desc", aid)
    assert all(r[1] is None for r in staged) and staged[0][2] == 10 and staged[-1][2] == 1


def test_the_pool_step_alone_changes_no_published_audience(conn, tenant):
    """A run stopped between pools and memberships (or a ranking step that fails) leaves every audience exactly
    as it was: the pool step only stages."""
    tid = tenant.tenant_id
    before = published(conn, tid)
    candidates = q(conn, tid, "select candidate_id, lead_id, similarity_score from lookalike_candidate order by 1")
    assert any(size for _s, size, _m in before.values())
    with tenant_transaction(conn, tid, APP_ROLE):
        conn.execute("update lookalike_audience set metadata = metadata || '{\"pool_size\": 40}'")
    train_and_promote(conn, tid, RankingConfig(min_seeds=10))
    refresh_candidate_pools(conn, tid, 150)
    assert published(conn, tid) == before
    assert q(conn, tid, "select candidate_id, lead_id, similarity_score from lookalike_candidate order by 1") == candidates
    # the membership step then swaps everything in: sizes match members, pools are the new (smaller) ones
    refresh_memberships(conn, tid)
    after = published(conn, tid)
    assert all(size == len(members) for _s, size, members in after.values())
    assert max(n for (n,) in q(conn, tid, "select count(*) from lookalike_candidate group by audience_id")) <= 40


def test_history_outlives_pool_changes(conn, tenant, tmp_path):
    """Exports are recorded as exposures and conversion facts stay when their leads leave the pool, even when the
    facts of their day are rebuilt."""
    from lookalike_assets.domain.exports import LocalFolderDestination
    from lookalike_assets.pipeline.exports import run_exports

    tid = tenant.tenant_id
    run_exports(conn, tid, LocalFolderDestination(str(tmp_path)), run_id="t", min_sizes={"meta": 1, "google": 1, "linkedin": 1})
    exposed = q(conn, tid, "select audience_id, lead_id from lookalike_exposure order by 1, 2")
    members = q(conn, tid, "select m.audience_id, c.lead_id from lookalike_audience_member m join lookalike_candidate c "
                "using (tenant_id, candidate_id) join lookalike_audience a on a.audience_id = m.audience_id "
                "where a.status = 'published' order by 1, 2")
    assert exposed and exposed == members
    leads = sorted({lid for _a, lid in members})[:40]
    events = [{"event_id": f"h-{lid}", "lead_id": str(lid), "event_type": "deal_closed",
               "occurred_at": "2026-10-05T10:00:00+00:00"} for lid in leads]
    rec = record_conversions(conn, tid, events, source="test")
    rebuild_facts(conn, [str(tid)], sorted(rec.days))
    facts = q(conn, tid, "select conversion_id, audience_id, lead_id from lookalike_conversion_fact order by 1, 2")
    assert len(facts) >= 40
    with tenant_transaction(conn, tid, APP_ROLE):  # pools shrink to 5: almost every converted lead leaves
        conn.execute("update lookalike_audience set metadata = metadata || '{\"pool_size\": 5}'")
    refresh_candidate_pools(conn, tid, 150)
    refresh_memberships(conn, tid)
    assert q(conn, tid, "select count(*) from lookalike_candidate")[0][0] <= 5 * len(published(conn, tid))
    assert q(conn, tid, "select conversion_id, audience_id, lead_id from lookalike_conversion_fact order by 1, 2") == facts
    rebuild_facts(conn, [str(tid)], sorted(rec.days))  # a late event's rebuild of the day keeps them too
    assert q(conn, tid, "select conversion_id, audience_id, lead_id from lookalike_conversion_fact order by 1, 2") == facts
    assert q(conn, tid, "select audience_id, lead_id from lookalike_exposure order by 1, 2") == exposed


def test_a_tenant_whose_pools_cross_the_statistics_threshold_refreshes_through_the_real_assets(
        owner, conn, test_url, new_slug, tmp_path, monkeypatch):
    """Above LOOKALIKE_ANALYZE_AFTER_ROWS staged candidates the pool step refreshes the stage's planner statistics
    (every large tenant: 20,000 candidates are eleven audiences at the default pool). The same branch at a small
    size: the threshold set low through its environment variable, as a deployment would."""
    import dagster as dg

    from lookalike_assets.definitions import tenant_assets
    from lookalike_assets.defs.audiences.resources import ExportDestinationResource
    from lookalike_assets.defs.leads.resources import TextEncoderResource
    from lookalike_assets.defs.partitions import TENANTS_PARTITION
    from lookalike_assets.defs.resources import LookalikeConfig, LookalikeDatabase
    from lookalike_assets.settings import get_settings

    monkeypatch.setenv("LOOKALIKE_ANALYZE_AFTER_ROWS", "100")
    get_settings.cache_clear()
    try:
        t = load_tenant(owner, tenant_profile(0, new_slug("big-pools")), 400, pool_size=150)
        instance = dg.DagsterInstance.ephemeral()
        instance.add_dynamic_partitions(TENANTS_PARTITION, [t.slug])
        res = dg.materialize(tenant_assets, partition_key=t.slug, instance=instance, raise_on_error=False,
                             resources={"db": LookalikeDatabase(database_url=test_url),
                                        "encoder": TextEncoderResource(encoder="hashing"),
                                        "lookalike": LookalikeConfig(),
                                        "exports": ExportDestinationResource(folder=str(tmp_path))})
        failures = [e.event_specific_data.error.to_string() for e in res.all_events if e.is_step_failure]
        assert res.success, failures
        pools = res.asset_materializations_for_node("candidate_pools")[0].metadata
        staged = sum(r[0] for r in q(conn, t.tenant_id, "select count(*) from lookalike_candidate"))
        assert staged > 100 and pools
    finally:
        get_settings.cache_clear()
