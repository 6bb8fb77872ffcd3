"""Monitoring: the health checks' decisions (domain/health.py) at their boundaries, the figures the pipeline reads
for them from a real database, the checks as real Dagster asset check results with their severities, and the step
log behind mart_pipeline_health (successes and failures, with the root cause's class)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import dagster as dg
import pytest
from conftest import tenant_profile

from lookalike_assets.db.connect import PIPELINE_ROLE, tenant_transaction
from lookalike_assets.defs.audiences.resources import ExportDestinationResource
from lookalike_assets.defs.leads.resources import TextEncoderResource
from lookalike_assets.defs.partitions import TENANTS_PARTITION
from lookalike_assets.defs.resources import LookalikeConfig, LookalikeDatabase
from lookalike_assets.domain import health
from lookalike_assets.domain.health import Period, PoolSize, RateSeries, Training
from lookalike_assets.pipeline import health as health_pipeline
from lookalike_assets.pipeline.demo import load_tenant

NOW = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)


# --- the decisions ---------------------------------------------------------------------------------------------

def test_coverage_counts_current_embeddings_only_and_is_an_error():
    ok = health.embedding_coverage(1000, 995, 5, 0.99)
    assert ok.passed and ok.severity == "error" and ok.details["coverage"] == 0.99
    low = health.embedding_coverage(1000, 1000, 11, 0.99)  # 11 stale: 98.9 % current
    assert not low.passed and "below the 99% required" in low.summary
    assert health.embedding_coverage(0, 0, 0, 0.99).passed  # no leads: nothing to miss
    with pytest.raises(ValueError, match="between 0 and 1"):
        health.embedding_coverage(10, 10, 0, 1.5)


def test_a_pool_is_flagged_only_when_it_lost_more_than_the_share():
    f = health.pool_shrinkage([PoolSize("A", 1000, 500), PoolSize("B", 1000, 499), PoolSize("New", 0, 300)], 0.5)
    assert not f.passed and f.severity == "warn" and f.details["shrunk"] == ["B"]
    assert "B: 1000 -> 499 candidates (-50%)" in f.summary
    assert health.pool_shrinkage([PoolSize("A", 10, 200)], 0.5).passed  # growth is fine
    with pytest.raises(ValueError):
        health.pool_shrinkage([], 0)


def test_a_conversion_rate_drop_needs_enough_expected_conversions():
    trailing = [Period(200, 10)] * 4  # 5 % a week
    dropped = health.conversion_rate_drops([RateSeries("A", [Period(200, 4), *trailing])], 0.5, 10)
    assert not dropped.passed and "A: 2.00% against a trailing 5.00%" in dropped.summary
    steady = health.conversion_rate_drops([RateSeries("A", [Period(200, 6), *trailing])], 0.5, 10)
    assert steady.passed and steady.details["audiences"][0]["status"] == "ok"
    # the same fall on a small audience predicts fewer than 10 conversions: not judged
    small = health.conversion_rate_drops([RateSeries("S", [Period(40, 0), *[Period(40, 2)] * 4])], 0.5, 10)
    assert small.passed and small.details["audiences"][0]["status"] == "too_little_data"
    # no exposure before the latest period (the demo: exported today): nothing to compare with
    new = health.conversion_rate_drops([RateSeries("N", [Period(500, 0), *[Period(0, 0)] * 4])], 0.5, 10)
    assert new.passed and "no audience has enough exposure history" in new.summary
    with pytest.raises(ValueError):
        health.conversion_rate_drops([], 1.0, 10)


def test_the_champion_is_flagged_after_n_lost_trainings_in_a_row():
    lost = [Training(v, "rejected", 0.80, 0.75) for v in (9, 8, 7)]
    assert not health.champion_outperformed(lost, 3).passed
    assert health.champion_outperformed(lost[:2], 3).passed
    # a challenger that lost, or a promotion, ends the streak
    held = [lost[0], lost[1], Training(7, "rejected", 0.70, 0.75), lost[2]]
    assert health.champion_outperformed(held, 3).details["streak"] == 2
    promoted = [lost[0], Training(8, "champion", 0.9, 0.7), *lost[1:]]
    assert health.champion_outperformed(promoted, 2).details["streak"] == 1
    assert health.champion_outperformed([Training(1, "champion", 0.8, None)], 1).passed  # the first model


def test_inputs_are_stale_after_max_age_and_conversions_only_once_expected():
    week = timedelta(days=7)
    assert health.input_freshness(NOW, NOW - timedelta(days=2), None, None, week).passed  # never exported
    # exported yesterday: no conversion is expected yet
    assert health.input_freshness(NOW, NOW, None, NOW - timedelta(days=1), week).passed
    f = health.input_freshness(NOW, NOW - timedelta(days=8), None, NOW - timedelta(days=30), week)
    assert not f.passed and f.details["stale"] == ["leads", "conversions"] and f.details["leads_age_days"] == 8.0
    assert health.input_freshness(NOW, NOW, NOW - timedelta(days=3), NOW - timedelta(days=30), week).passed


def test_the_root_cause_of_a_chain_is_its_first_error():
    try:
        try:
            raise ConnectionResetError("socket")
        except OSError as exc:
            raise RuntimeError("step failed") from exc
    except RuntimeError as outer:
        assert type(health_pipeline.root_cause(outer)) is ConnectionResetError
    assert health_pipeline.step_metrics({"n": 3, "rate": float("nan"), "ok": True, "name": "x", "c": 0.5}) == \
        {"n": 3, "c": 0.5}


# --- the figures, from a real database ------------------------------------------------------------------------

def test_conversion_periods_count_exposed_leads_and_their_conversions_after_export(owner, conn, new_slug):
    t = load_tenant(owner, tenant_profile(0, new_slug("rates")), 300, pool_size=100)
    cfg = LookalikeConfig().health()
    with owner.transaction():
        aid, name = owner.execute("select audience_id, name from lookalike_audience where tenant_id = %s "
                                  "order by name limit 1", (t.tenant_id,)).fetchone()
        owner.execute("update lookalike_audience set status = 'published' where tenant_id = %s and audience_id = %s",
                      (t.tenant_id, aid))
        leads = [r[0] for r in owner.execute("select lead_id from leads where tenant_id = %s order by external_id "
                                             "limit 200", (t.tenant_id,))]
        for lead in leads:  # exported five weeks ago
            owner.execute("insert into lookalike_exposure (tenant_id, audience_id, lead_id, first_exported_at, "
                          "last_exported_at) values (%s, %s, %s, %s, %s)",
                          (t.tenant_id, aid, lead, NOW - timedelta(days=36), NOW - timedelta(days=36)))

        def convert(lead, when, kind="reply"):
            cid = owner.execute("insert into lookalike_conversion (tenant_id, event_id, lead_id, event_type, "
                                "occurred_at) values (%s, %s, %s, %s, %s) returning conversion_id",
                                (t.tenant_id, str(uuid.uuid4()), lead, kind, when)).fetchone()[0]
            owner.execute("insert into lookalike_conversion_fact (tenant_id, conversion_id, audience_id, lead_id, "
                          "event_day, event_type, occurred_at, similarity_score, decile) "
                          "values (%s, %s, %s, %s, %s, %s, %s, 0.5, 5)",
                          (t.tenant_id, cid, aid, lead, when.date(), kind, when))

        # ten conversions in each of the four weeks before the last, two in the last; clicks do not count
        for week in range(1, 5):
            for i in range(10):
                convert(leads[week * 10 + i], NOW - timedelta(days=7 * week + 3))
        convert(leads[0], NOW - timedelta(days=2))
        convert(leads[1], NOW - timedelta(days=1))
        convert(leads[2], NOW - timedelta(days=1), kind="click")
        convert(leads[3], NOW - timedelta(days=40))  # before its export: not caused by it
    f = health_pipeline.conversion_finding(conn, t.tenant_id, cfg, as_of=NOW)
    row = next(a for a in f.details["audiences"] if a["audience"] == name)
    assert row == {"audience": name, "rate": 0.01, "trailing": 0.05, "expected": 10.0, "status": "dropped"}
    assert not f.passed
    # a week later the history alone (nothing new) is judged again: no exposure is lost
    assert health_pipeline.conversion_finding(conn, t.tenant_id, cfg, as_of=NOW + timedelta(days=7)).details[
        "audiences"][0]["expected"] >= 0


def test_trainings_and_input_times_are_read_per_tenant(owner, conn, new_slug):
    t = load_tenant(owner, tenant_profile(1, new_slug("streak")), 50, pool_size=20)
    other = load_tenant(owner, tenant_profile(1, new_slug("streak-other")), 50, pool_size=20)
    cfg = LookalikeConfig().health()
    with owner.transaction():
        for tenant, (chal, champ) in ((t, (0.81, 0.74)), (other, (0.6, 0.7))):
            owner.execute("insert into lookalike_ranking_model (tenant_id, version, kind, status, model_text, "
                          "features, metrics) values (%s, 1, 'pu', 'champion', 'm', '{}', '{}')", (tenant.tenant_id,))
            for v in (2, 3, 4):
                owner.execute("insert into lookalike_ranking_model (tenant_id, version, kind, status, model_text, "
                              "features, metrics) values (%s, %s, 'pu', 'rejected', 'm', '{}', %s)",
                              (tenant.tenant_id, v, f'{{"holdout": {{"auc": {chal}}}, '
                                                    f'"champion_on_same_holdout": {{"auc": {champ}}}}}'))
    f = health_pipeline.champion_finding(conn, t.tenant_id, cfg)
    assert not f.passed and f.details["versions"] == [4, 3, 2]
    assert health_pipeline.champion_finding(conn, other.tenant_id, cfg).passed  # its own history only
    fresh = health_pipeline.freshness_finding(conn, t.tenant_id, cfg)
    assert fresh.passed and fresh.details["expects_conversions"] is False
    later = health_pipeline.freshness_finding(conn, t.tenant_id, cfg, now=datetime.now(timezone.utc) + timedelta(days=8))
    assert not later.passed and later.details["stale"] == ["leads"]


# --- as Dagster runs them -------------------------------------------------------------------------------------

def resources(test_url, tmp_path, **config):
    return {"db": LookalikeDatabase(database_url=test_url), "encoder": TextEncoderResource(encoder="hashing"),
            "lookalike": LookalikeConfig(**config), "exports": ExportDestinationResource(folder=str(tmp_path))}


def checks_of(result) -> dict[str, dg.AssetCheckEvaluation]:
    return {c.check_name: c for c in result.get_asset_check_evaluations()}


def test_checks_fail_with_their_severity_in_a_real_run(owner, conn, test_url, new_slug, tmp_path):
    from lookalike_assets.definitions import tenant_assets

    t = load_tenant(owner, tenant_profile(0, new_slug("checks")), 300, pool_size=200)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(TENANTS_PARTITION, [t.slug])
    first = dg.materialize(tenant_assets, partition_key=t.slug, instance=instance,
                           resources=resources(test_url, tmp_path))
    assert first.success and all(c.passed for c in checks_of(first).values())
    # now the pools come out at a quarter of their size, and a tenth of the leads cannot be embedded (no content)
    with owner.transaction():
        owner.execute("update lookalike_audience set metadata = metadata || '{\"pool_size\": 50}' "
                      "where tenant_id = %s", (t.tenant_id,))
        for i in range(34):
            owner.execute("insert into leads (tenant_id, external_id) values (%s, %s)", (t.tenant_id, f"empty-{i}"))
    second = dg.materialize(tenant_assets, partition_key=t.slug, instance=instance,
                            resources=resources(test_url, tmp_path))
    assert second.success  # checks report; they do not stop the refresh
    checks = checks_of(second)
    cov = checks["embedding_coverage"]
    assert not cov.passed and cov.severity == dg.AssetCheckSeverity.ERROR
    assert cov.metadata["coverage"].value == round(300 / 334, 4)
    assert "below the 99% required" in cov.description
    pool = checks["pool_not_shrunk"]
    assert not pool.passed and pool.severity == dg.AssetCheckSeverity.WARN
    assert "-75%" in pool.description
    assert checks["inputs_fresh"].passed and checks["conversion_rate_steady"].passed
    # a looser threshold, given as configuration, passes the same data
    third = dg.materialize(tenant_assets, partition_key=t.slug, instance=instance, selection=["lead_embeddings"],
                           resources=resources(test_url, tmp_path, min_embedding_coverage=0.85))
    assert checks_of(third)["embedding_coverage"].passed


def test_every_step_is_in_the_step_log_failed_ones_with_their_root_cause(owner, conn, test_url, new_slug, tmp_path):
    from lookalike_assets.definitions import tenant_assets

    t = load_tenant(owner, tenant_profile(1, new_slug("steps")), 80, pool_size=20)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(TENANTS_PARTITION, [t.slug])
    failed = dg.materialize(tenant_assets, partition_key=t.slug, instance=instance, raise_on_error=False,
                            selection=["seed_profiles"], resources=resources(test_url, tmp_path))
    assert not failed.success  # no features yet
    with tenant_transaction(conn, t.tenant_id, PIPELINE_ROLE):
        rows = conn.execute("select asset, status, error_class, seconds, run_id from lookalike_step_log").fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [("seed_profiles", "failed", "Failure")]
    assert rows[0][3] >= 0 and rows[0][4] == failed.run_id
