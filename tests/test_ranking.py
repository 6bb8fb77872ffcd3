"""The learned ranking: promotion only when better, fallback to similarity, excluded sensitive attributes,
the backtest's JSON contract and targets (on a sample, looser bounds), and the early-retrain sensor."""

from __future__ import annotations

import json

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from conftest import BANK_CSV, build_tenant, tenant_profile
from typer.testing import CliRunner

from lookalike_assets.db.connect import PIPELINE_ROLE, tenant_transaction
from lookalike_assets.db.queries import Q
from lookalike_assets.domain.ranking import Evaluation, FeatureSchema, auc, decide, feature_frame, lift_at, train_pu
from lookalike_assets.pipeline.conversions import record_conversions
from lookalike_assets.pipeline.demo import load_tenant
from lookalike_assets.pipeline.memberships import refresh_memberships
from lookalike_assets.pipeline.pools import refresh_candidate_pools
from lookalike_assets.pipeline.ranking import RankingConfig, train_and_promote


def test_metrics():
    y = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 0])
    assert auc(np.arange(10)[::-1], y) == pytest.approx(0.9375)
    assert auc(np.ones(10), y) == 0.5
    assert lift_at(np.array([9, 0, 8, 0, 0, 0, 0, 0, 0, 0.0]), y, 0.2) == pytest.approx(5.0)
    assert np.isnan(auc(np.ones(3), np.zeros(3)))


def test_prediction_reads_the_frame_once_as_lightgbm_would():
    """The model converts a frame once for all its boosters; the scores are LightGBM's own from the frame: the
    categories' codes, an unseen or missing category as missing, missing numbers, one row or many, and a frame
    whose categories are not the trained ones (then LightGBM maps them)."""
    rng = np.random.default_rng(3)
    schema = FeatureSchema(numeric=["opens"], categorical={"country": ["DE", "FR", "US"], "empty": []},
                           blocks=["role"])

    def frame(n, countries):
        sims = {k: rng.random(n) for k in ("sim_profile", "sim_seed_max", "sim_seed_knn", "novelty", "block_role")}
        feats = [{"opens": None if i % 7 == 0 else float(i % 5), "country": countries[i % len(countries)]}
                 for i in range(n)]
        return feature_frame(schema, feats, sims)

    model = train_pu(frame(40, ["DE", "FR"]), frame(400, ["DE", "FR", "US", None]), schema, bags=3, rounds=20)
    for X in (frame(300, ["DE", "FR", "US", None, "XX"]), frame(1, ["US"]), frame(1, [None])):
        want = np.mean([b.predict(X, raw_score=True) for b in model.boosters], axis=0)
        assert isinstance(model._matrix(X), np.ndarray)
        np.testing.assert_allclose(model.predict(X), want, rtol=0, atol=1e-12)
    other = frame(50, ["DE", "FR"])
    other["c_country"] = other["c_country"].cat.set_categories(["FR", "DE"])  # not the trained order
    assert model._matrix(other) is other
    np.testing.assert_allclose(model.predict(other),
                               np.mean([b.predict(other, raw_score=True) for b in model.boosters], axis=0), atol=1e-12)


def test_concurrent_first_scores_build_the_scorer_once():
    import threading
    import time

    from lookalike_assets.pipeline import ranking

    builds = []

    def build():
        builds.append(1)
        time.sleep(0.2)
        return "scorer"

    key = ("concurrent", object())
    got = []
    threads = [threading.Thread(target=lambda: got.append(ranking._cached_scorer(key, build))) for _ in range(6)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert got == ["scorer"] * 6 and len(builds) == 1 and not ranking._BUILDING
    ranking._SCORERS.pop(key)

    def failing():
        raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError):
        ranking._cached_scorer(key, failing)
    assert key not in ranking._SCORERS and not ranking._BUILDING  # the next call builds again
    assert ranking._cached_scorer(key, lambda: None) is None and key not in ranking._SCORERS


def test_the_build_gate_is_dropped_only_once_the_scorer_is_cached(monkeypatch):
    """A caller arriving between the end of a build and its caching would find neither the gate nor the scorer and
    build again: when the gate goes, the scorer must already be there."""
    from lookalike_assets.pipeline import ranking

    cached_when_dropped = []

    class Gates(dict):
        def pop(self, key, *default):
            cached_when_dropped.append(key in ranking._SCORERS)
            return super().pop(key, *default)

    monkeypatch.setattr(ranking, "_BUILDING", Gates())
    key = ("gate", object())
    assert ranking._cached_scorer(key, lambda: "scorer") == "scorer"
    assert cached_when_dropped == [True] and ranking._SCORERS.pop(key) == "scorer"


def test_promotion_needs_a_large_enough_holdout_and_a_clear_gain():
    rng = np.random.default_rng(0)
    y = (rng.random(400) < 0.25).astype(float)
    noise = rng.normal(size=400)
    strong = Evaluation(0.0, 0.0, 400, int(y.sum()), scores=y * 2 + noise)
    weak = Evaluation(0.0, 0.0, 400, int(y.sum()), scores=y * 0.3 + noise)
    for ev in (strong, weak):
        ev.auc = auc(ev.scores, y)
    assert decide(weak, None, y).promote  # the first model of a tenant
    win = decide(strong, weak, y)
    assert win.promote and win.auc_gain_ci[0] > 0 and "95 % interval" in win.reason
    same = decide(weak, weak, y)  # the same model again: no evidence
    assert not same.promote and "not clearly better" in same.reason
    assert not decide(weak, strong, y).promote
    # a model trained on outcomes replacing a seeds-only one needs only to be not worse (non-inferiority)
    near = Evaluation(0.0, 0.0, 400, int(y.sum()), scores=weak.scores + rng.normal(0, 0.3, 400))
    near.auc = auc(near.scores, y)
    assert not decide(near, weak, y).promote
    assert decide(near, weak, y, upgrade=True).promote
    worse = decide(weak, strong, y, upgrade=True)
    assert not worse.promote and "clearly worse" in worse.reason
    # a holdout of 60 rows (or 10 positives) is too small to tell, whatever the point estimates say
    small = decide(Evaluation(0.9, 3.0, 60, 10, scores=strong.scores[:60]),
                   Evaluation(0.6, 1.0, 60, 10, scores=weak.scores[:60]), y[:60])
    assert not small.promote and "too small to tell" in small.reason
    nan = Evaluation(float("nan"), 0.0, 10, 0, scores=np.zeros(10))
    assert not decide(nan, None, np.zeros(10)).promote


@pytest.fixture
def tenant(owner, conn, new_slug):
    t = load_tenant(owner, tenant_profile(0, new_slug("rank")), 1200, pool_size=400)
    build_tenant(conn, t.tenant_id, 400)
    return t


def models(conn, tid):
    with tenant_transaction(conn, tid, PIPELINE_ROLE):
        return conn.execute("select version, kind, status, features, metrics from lookalike_ranking_model "
                            "order by version").fetchall()


def test_promoted_only_when_better(conn, tenant):
    tid = tenant.tenant_id
    first = train_and_promote(conn, tid, RankingConfig(min_seeds=10))
    assert first.status == "promoted" and first.kind == "pu" and first.scored > 0
    # the same recipe on the same data is not better than itself: rejected, champion unchanged
    same = train_and_promote(conn, tid, RankingConfig(min_seeds=10))
    assert same.status == "rejected" and same.champion["auc"] == same.challenger["auc"]
    # a crippled challenger (almost every column excluded) loses on the same holdout
    spec_cols = ["industry", "company_size", "country", "region", "seniority", "title", "email_opens", "web_visits",
                 "title", "industry", "company", "bio"]
    weak = train_and_promote(conn, tid, RankingConfig(min_seeds=10, exclude_features=spec_cols))
    assert weak.status == "rejected" and weak.challenger["auc"] < weak.champion["auc"]
    rows = models(conn, tid)
    assert [r[2] for r in rows] == ["champion", "rejected", "rejected"]
    assert rows[0][4]["holdout"]["auc"] > 0.5


def test_scoring_a_new_lead_matches_the_stored_score_and_its_cache_follows_the_seeds(conn, tenant):
    """score_new_leads (the API's score) gives a lead the champion's stored score (real: to 1e-6); its cached
    scorer is reused while nothing changed and replaced when a seed goes."""
    from lookalike_assets.pipeline import ranking
    from lookalike_assets.pipeline.online import as_array

    tid = tenant.tenant_id
    assert train_and_promote(conn, tid, RankingConfig(min_seeds=10)).status == "promoted"
    with tenant_transaction(conn, tid, PIPELINE_ROLE):
        rows = conn.execute(
            "select l.company, l.industry, l.company_size, l.country, l.region, l.title, l.seniority, l.bio, "
            "l.property_type, l.email_opens, l.web_visits, s.score, e.embedding from leads l "
            "join lookalike_lead_score s using (tenant_id, lead_id) join lead_embeddings e using (tenant_id, lead_id) "
            # leads that are not seeds: a seed's stored score saw itself among the seeds, a new lead cannot
            "where not l.is_seed order by l.external_id limit 3").fetchall()
    attrs = [{k: v for k, v in r._asdict().items() if k not in ("score", "embedding") and v is not None} for r in rows]
    vecs = np.stack([as_array(r.embedding) for r in rows])
    ranking._SCORERS.clear()
    first = ranking.score_new_leads(conn, tid, attrs, vecs)
    assert np.allclose(first, [r.score for r in rows], atol=1e-6)
    again = ranking.score_new_leads(conn, tid, attrs, vecs)
    assert np.array_equal(first, again) and len(ranking._SCORERS) == 1
    with tenant_transaction(conn, tid, PIPELINE_ROLE):
        conn.execute("update lookalike_seed set deleted_at = now() where seed_id = "
                     "(select seed_id from lookalike_seed where deleted_at is null order by seed_id limit 1)")
    ranking.score_new_leads(conn, tid, attrs, vecs)
    assert len(ranking._SCORERS) == 2


def test_fallback_to_similarity_without_a_model(conn, tenant):
    tid = tenant.tenant_id
    with tenant_transaction(conn, tid, PIPELINE_ROLE):
        # keep five 'won' seeds: enough for every audience (minimum 3), too few for a model (minimum 10)
        conn.execute("update lookalike_seed set deleted_at = now() where seed_id not in "
                     "(select seed_id from lookalike_seed where deleted_at is null and label = 'won' "
                     "order by seed_id limit 5)")
    res = train_and_promote(conn, tid, RankingConfig(min_seeds=10))
    assert res.status == "skipped" and "fewer than 10" in res.reason
    with tenant_transaction(conn, tid, PIPELINE_ROLE):
        assert conn.execute("select count(*) from lookalike_candidate where rank_score is not null").fetchone()[0] == 0
    out = {r.name: r for r in refresh_memberships(conn, tid)}
    assert all(r.status == "built" for r in out.values())
    with tenant_transaction(conn, tid, PIPELINE_ROLE):
        scores = [r[0] for r in conn.execute(
            "select c.similarity_score from lookalike_audience_member m join lookalike_candidate c "
            "using (tenant_id, candidate_id) join lookalike_audience a on a.audience_id = m.audience_id "
            "where a.name = 'Lookalikes of won deals'")]
        pool_scores = sorted((r[0] for r in conn.execute(
            "select c.similarity_score from lookalike_candidate c join lookalike_audience a using (tenant_id, audience_id) "
            "where a.name = 'Lookalikes of won deals' and c.lead_id not in (select lead_id from lookalike_seed)")),
            reverse=True)
    # without a model the members are the most similar eligible candidates
    assert min(scores) >= pool_scores[len(scores) + 40]


def test_members_follow_the_ranking_when_a_model_exists(conn, tenant):
    tid = tenant.tenant_id
    assert train_and_promote(conn, tid, RankingConfig(min_seeds=10)).status == "promoted"
    refresh_candidate_pools(conn, tid, 400)
    refresh_memberships(conn, tid)
    with tenant_transaction(conn, tid, PIPELINE_ROLE):
        member_min = conn.execute(
            "select min(c.rank_score) from lookalike_audience_member m join lookalike_candidate c "
            "using (tenant_id, candidate_id) join lookalike_audience a on a.audience_id = m.audience_id "
            "where a.name = 'Lookalikes of won deals'").fetchone()[0]
        outside = conn.execute(
            "select count(*) from lookalike_candidate c join lookalike_audience a using (tenant_id, audience_id) "
            "where a.name = 'Lookalikes of won deals' and c.status = 'excluded' and c.rank_score > %s "
            "and c.lead_id not in (select lead_id from lookalike_seed where deleted_at is null) "
            "and c.lead_id not in (select lead_id from lookalike_conversion where event_type = 'deal_closed')",
            (member_min,)).fetchone()[0]
    assert member_min is not None and outside == 0


def test_excluded_sensitive_attributes_are_never_used(owner, conn, tenant):
    tid = tenant.tenant_id
    with owner.transaction():
        Q.ranking.set_tenant_ranking_settings(owner, tenant_id=tid, ranking=json.dumps({"exclude_features": ["seniority",
                                                                                                   "country"]}))
    res = train_and_promote(conn, tid, RankingConfig(min_seeds=10))
    assert res.status == "promoted" and res.excluded_features == ["country", "seniority"]
    names = set(res.feature_names)
    assert not {n for n in names if "seniority" in n or "country" in n}
    # their blocks (role holds seniority, geography holds country) are out of the similarity features too
    assert "block_role" not in names and "block_geography" not in names and "block_industry" in names
    from lookalike_assets.domain.ranking import TrainedModel

    with tenant_transaction(conn, tid, PIPELINE_ROLE):
        text = Q.ranking.champion_model(conn, tenant_id=tid)[3]
    model = TrainedModel.from_text(text)
    for booster in model.boosters:
        assert not [f for f in booster.feature_name() if "seniority" in f or "country" in f]


def test_feedback_model_after_outcomes(conn, tenant):
    tid = tenant.tenant_id
    train_and_promote(conn, tid, RankingConfig(min_seeds=10))
    with tenant_transaction(conn, tid, PIPELINE_ROLE):
        rows = conn.execute("select distinct c.lead_id, p.propensity from lookalike_candidate c "
                            "join demo_lead_propensity p using (tenant_id, lead_id) order by 1").fetchall()
        conn.execute("insert into lookalike_exposure (tenant_id, audience_id, lead_id) "
                     "select distinct tenant_id, audience_id, lead_id from lookalike_candidate where lead_id = any(%s)",
                     ([r[0] for r in rows],))
    rng = np.random.default_rng(3)
    events = [{"event_id": f"fb-{lid}", "lead_id": str(lid), "event_type": "deal_closed",
               "occurred_at": f"2026-10-{1 + i % 28:02d}T10:00:00+00:00"}
              for i, (lid, p) in enumerate(rows) if rng.random() < p * 2]
    from lookalike_assets.pipeline.conversions import rebuild_facts

    days = record_conversions(conn, tid, events).days
    rebuild_facts(conn, [str(tid)], sorted(days))
    res = train_and_promote(conn, tid, RankingConfig(min_seeds=10, min_outcomes=50))
    assert res.kind == "feedback" and res.status in ("promoted", "rejected")
    assert res.champion is not None  # judged against the seeds-only champion on the same holdout


def test_retrain_sensor_threshold(conn, tenant, test_url):
    """Conversions since the tenant's last training are counted; at the threshold one retraining is requested,
    and a training resets the count."""
    from lookalike_assets.defs.partitions import TENANTS_PARTITION
    from lookalike_assets.defs.ranking.assets import ranking_feedback_sensor
    from lookalike_assets.defs.resources import LookalikeConfig, LookalikeDatabase

    tid = tenant.tenant_id
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(TENANTS_PARTITION, [tenant.slug])
    resources = {"db": LookalikeDatabase(database_url=test_url), "lookalike": LookalikeConfig(retrain_after_conversions=5)}
    with tenant_transaction(conn, tid, PIPELINE_ROLE):
        leads = [r[0] for r in conn.execute("select lead_id from leads order by lead_id limit 9")]

    def send(ids, tag):
        record_conversions(conn, tid, [{"event_id": f"{tag}-{i}", "lead_id": str(lid), "event_type": "reply",
                                        "occurred_at": "2026-11-01T00:00:00+00:00"} for i, lid in enumerate(ids)])

    def tick():
        res = ranking_feedback_sensor(dg.build_sensor_context(instance=instance, resources=resources))
        return [r for r in res.run_requests if r.partition_key == tenant.slug]

    send(leads[:3], "a")
    assert not tick()
    send(leads[3:6], "b")
    due = tick()
    assert len(due) == 1 and due[0].tags["lookalike/new_conversions"] == "6"
    assert tick()[0].run_key == due[0].run_key  # asked again, the same run: Dagster does not launch it twice
    train_and_promote(conn, tid, RankingConfig(min_seeds=10))
    assert not tick()
    send(leads[6:9], "c")
    assert not tick()  # 3 since the training


@pytest.fixture(scope="module")
def bank_sample(tmp_path_factory):
    if not BANK_CSV.exists():
        pytest.skip("../shared/datasets/bank-marketing/bank-full.csv is not present")
    path = tmp_path_factory.mktemp("bank") / "bank-sample.csv"
    pd.read_csv(BANK_CSV).iloc[::4].to_csv(path, index=False)  # the file is time-ordered: take every 4th row
    return path


def test_backtest_json_contract_and_targets_on_a_sample(owner, bank_sample, test_url, monkeypatch, conn):
    from lookalike_assets.cli import app
    from lookalike_assets.settings import get_settings

    monkeypatch.setenv("LOOKALIKE_DATABASE_URL", test_url)
    get_settings.cache_clear()
    try:
        res = CliRunner().invoke(app, ["backtest", "--csv", str(bank_sample), "--label-column", "y",
                                       "--positive-value", "yes", "--exclude-columns", "duration", "--seeds", "150",
                                       "--trials", "1", "--json"])
    finally:
        get_settings.cache_clear()
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout.strip().splitlines()[-1])
    # the keys of the first version keep their meaning; the production path adds its own
    assert {"similarity", "ranked", "ranked_feedback", "rows", "base_rate"} <= set(out)
    assert {"onehot_centroid", "pool_size"} <= set(out) and out["pool_size"] == 2000  # as shipped
    for way in ("similarity", "ranked", "ranked_feedback"):
        assert {"lift_at_10", "auc", "audience_precision", "audience_recall"} <= set(out[way])
        # the audience is 2,000 leads at most: its recall is bounded by that, its precision is what a user gets
        assert 0 < out[way]["audience_recall"] < 1 and out[way]["audience_precision"] > out["base_rate"]
    assert {"lift_at_10", "auc"} <= set(out["onehot_centroid"])
    assert out["rows"] == 11303 and 0.10 < out["base_rate"] < 0.14
    # through the production pool (looser bounds than the full-data targets of 3.6 and 4.1)
    assert out["ranked"]["lift_at_10"] >= 3.0
    assert out["ranked_feedback"]["lift_at_10"] >= 3.0
    # lookalike's similarity is at least the plainest baseline's on the same seeds
    assert out["similarity"]["lift_at_10"] >= out["onehot_centroid"]["lift_at_10"] - 0.15
    assert out["ranked"]["lift_at_10"] >= out["similarity"]["lift_at_10"]
    assert out["ranked"]["audience_precision"] > 2 * out["base_rate"]
    with owner.transaction():
        assert owner.execute("select count(*) from tenants where slug like 'backtest-%'").fetchone()[0] == 0


def test_backtest_refuses_bad_input(bank_sample, conn, tmp_path):
    from lookalike_assets.pipeline.backtest import BacktestConfig, BacktestError, run_backtest

    with pytest.raises(BacktestError, match="label column 'outcome' is not in the file"):
        run_backtest(conn, BacktestConfig(csv=str(bank_sample), label_column="outcome"))
    with pytest.raises(BacktestError, match="not enough for 5000 seeds"):
        run_backtest(conn, BacktestConfig(csv=str(bank_sample), label_column="y", positive_value="yes", seeds=5000))
    with pytest.raises(BacktestError, match="not in the file: nope"):
        run_backtest(conn, BacktestConfig(csv=str(bank_sample), label_column="y", exclude_columns=["nope"]))


def test_influential_factors_are_listed_most_important_first(cli_env, conn, tenant):
    """Importances come back from jsonb in its own key order; every listing sorts them by share."""
    import re

    from conftest import cli

    assert train_and_promote(conn, tenant.tenant_id, RankingConfig(min_seeds=10)).status == "promoted"
    with tenant_transaction(conn, tenant.tenant_id, PIPELINE_ROLE):
        stored = list(Q.ranking.champion_model(conn, tenant_id=tenant.tenant_id)[4]["importances"].items())
    assert stored != sorted(stored, key=lambda kv: -kv[1]), "jsonb keeps no order: the test needs it scrambled"
    for args in (["ranking", "show", "--tenant", tenant.slug],
                 ["audiences", "show", "Lookalikes of won deals", "--tenant", tenant.slug]):
        code, out = cli(*args)
        assert code == 0, out
        assert "influential factor" in out, out
        table = out.split("influential factor")[-1]
        shares = [float(x) for x in re.findall(r"(\d+\.\d)%", table)]
        assert len(shares) == 10 and shares == sorted(shares, reverse=True), (args, shares)
        assert max(v for _k, v in stored) * 100 - shares[0] < 0.1
        # issue 33 §12: words, never the model's internal names
        assert not re.search(r"\b(block_|sim_profile|sim_seed|c_|f_)\w*", table), table
        assert "likeness" in table


def test_a_backtest_stopped_by_sigterm_leaves_no_tenant_behind(owner, bank_sample, test_url, tmp_path):
    """`timeout` or a cancelled CI job sends SIGTERM: the temporary tenant and its rows are deleted all the same."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    env = {**os.environ, "LOOKALIKE_DATABASE_URL": test_url, "LOOKALIKE_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen([str(Path(sys.executable).parent / "lookalike"), "backtest", "--csv", str(bank_sample),
                             "--label-column", "y", "--positive-value", "yes", "--seeds", "50", "--trials", "3"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    count = "select count(*) from tenants where slug like 'backtest-%%'"
    while owner.execute(count).fetchone()[0] == 0 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # inside the import
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0, out
    assert owner.execute(count).fetchone()[0] == 0, out
