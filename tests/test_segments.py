"""Balanced segments: the bounds hold (or the reason is given), the same input gives the same segments, a segment's
traits match its data; stored per audience with per-segment exports, and the asset with its chart and check."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from conftest import build_tenant, tenant_profile
from hypothesis import given, settings
from hypothesis import strategies as st

from lookalike_assets.db.connect import PIPELINE_ROLE, tenant_transaction
from lookalike_assets.domain.exports import LocalFolderDestination
from lookalike_assets.domain.rules import Segments, parse_rules
from lookalike_assets.domain.segments import (
    SegmentError,
    balanced_assignment,
    choose_k,
    constrained_kmedians,
    distinct_segments,
    profile_segments,
    segment_bounds,
)
from lookalike_assets.pipeline.demo import load_tenant
from lookalike_assets.pipeline.exports import run_exports
from lookalike_assets.pipeline.segments import refresh_segments


def test_bounds_from_the_tenant_then_from_the_audience_then_a_reason():
    b = segment_bounds(300, 2000, Segments())  # 5-10 % of 2000 scored leads: 100-200 members, so k 2 or 3
    assert (b.lo, b.hi, b.ks, b.basis) == (100, 200, (2, 3), "tenant")
    b = segment_bounds(60, 2000, Segments())  # too small for 100-member segments: 10-50 % of the audience
    assert (b.lo, b.hi, b.ks, b.basis) == (10, 30, (2, 3, 4, 5, 6), "audience")
    b = segment_bounds(1000, 2000, Segments(k_max=4))
    assert b.ks == () or b.basis == "audience" or max(b.ks) <= 4
    with pytest.raises(SegmentError, match="15 members: too few for 2 or more segments of at least 10"):
        segment_bounds(15, 2000, Segments())
    custom = parse_rules({"segments": {"k_min": 3, "k_max": 4, "min_share": 0.2, "max_share": 0.4,
                                       "min_percent": 50, "max_percent": 60}}).segments
    assert segment_bounds(100, 150, custom).ks == (3, 4) and segment_bounds(100, 150, custom).basis == "audience"


@settings(max_examples=40, deadline=None)
@given(n=st.integers(6, 60), k=st.integers(2, 5), seed=st.integers(0, 10_000))
def test_the_assignment_keeps_every_size_within_bounds(n, k, seed):
    lo, hi = max(1, n // (2 * k)), -(-n // k) + 2
    if k * lo > n or k * hi < n:
        return
    dist = np.random.default_rng(seed).random((n, k))
    labels = balanced_assignment(dist, lo, hi)
    sizes = np.bincount(labels, minlength=k)
    assert sizes.sum() == n and sizes.min() >= lo and sizes.max() <= hi


def blobs(seed=0):
    rng = np.random.default_rng(seed)
    centres = np.eye(24)[:3] * 3
    x = np.concatenate([rng.normal(0, 0.4, (m, 24)) + c for c, m in zip(centres, (120, 60, 40))])
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_the_same_members_in_any_order_give_the_same_segments():
    x = blobs()
    order = np.lexsort(x.T)  # what the pipeline does: rows sorted by a key (lead id) before clustering
    a, _ = constrained_kmedians(x[order], 3, 40, 120)
    perm = np.random.default_rng(1).permutation(len(x))
    xp = x[perm]
    order_p = np.lexsort(xp.T)
    b, _ = constrained_kmedians(xp[order_p], 3, 40, 120)
    assert np.array_equal(a, b)
    sizes = np.bincount(a)
    assert sizes.min() >= 40 and sizes.max() <= 120


def test_k_is_chosen_by_cohesion_within_the_bounds():
    split = choose_k(blobs(), segment_bounds(220, 100_000, Segments(k_max=6, max_share=0.6)))
    assert split.k == 3 and set(split.scores) == {2, 3, 4, 5, 6}
    assert split.scores[3] == max(split.scores.values())
    assert sorted(np.bincount(split.labels).tolist()) == [40, 60, 120]


def test_a_segments_traits_match_its_data():
    rows = [{"candidate_id": i, "similarity_score": 0.5 + (i % 2) * 0.1, "rank_score": None,
             "country": "germany" if i < 30 else "brazil", "title": "cfo" if i < 20 else "analyst",
             "company_size": 2000 if i < 30 else 50} for i in range(60)]
    labels = np.array([0 if i < 30 else 1 for i in range(60)])
    first, second = profile_segments(rows, labels, ["country", "title"], ["company_size"])
    assert first.size == 30 and first.share == 0.5 and {r["candidate_id"] for r in rows[:30]} == set(first.members)
    assert first.profile["country"] == {"value": "germany", "share": 1.0, "audience_share": 0.5, "lift": 2.0}
    traits = {t["field"]: t for t in first.traits}
    assert traits["country"]["value"] == "germany" and traits["country"]["lift"] == 2.0
    assert traits["title"]["value"] == "cfo" and traits["title"]["share"] == round(20 / 30, 4)
    assert traits["company_size"]["value"] == "high company size"
    assert first.name == "Germany · CFO" and second.name == "Brazil · Analyst"
    assert second.mean_similarity == 0.55


def test_segments_are_named_by_what_sets_them_apart_and_never_twice():
    """Issue 33 §11: "Netherlands · Software" with traits x1.04 and x0.98 beside "Netherlands · Software (2)". A
    trait must be over-represented (lift >= 1.25); a segment without one, or named like another, is not distinct;
    when the best split has such segments, a smaller k is tried, and none is made when no k has distinct ones."""
    rng = np.random.default_rng(3)
    # two real groups (apart in the vectors and in their country), each as mixed in title as the audience
    x = np.vstack([rng.normal(0, 0.05, (60, 8)), rng.normal(3, 0.05, (60, 8))])
    rows = [{"candidate_id": i, "similarity_score": 0.5, "rank_score": None,
             "country": "netherlands" if i < 60 else "brazil", "title": ("cfo", "analyst", "cto")[i % 3],
             "industry": "software"} for i in range(120)]
    # a split of one group in two: same traits, no lift, not distinct; never the same name twice
    same = profile_segments(rows[:60], np.array([i % 2 for i in range(60)]), ["country", "title", "industry"], [])
    assert not any(p.distinct for p in same) and all(not p.traits for p in same)
    assert len({p.name for p in same}) == 2
    bounds = segment_bounds(120, 100_000, Segments(k_max=4, max_share=0.6))
    split, profiles = distinct_segments(x, rows, bounds, ["country", "title", "industry"], [])
    assert split is not None and split.k == 2, [p.name for p in profiles]
    assert sorted(p.name for p in profiles) == ["Brazil", "Netherlands"]
    assert all(t["lift"] >= 1.25 for p in profiles for t in p.traits)
    # members that do not differ in anything a segment could be named by: no segments at all
    flat = [{**r, "country": "netherlands"} for r in rows]
    split, _ = distinct_segments(x, flat, bounds, ["country", "title", "industry"], [])
    assert split is None


@pytest.fixture
def segmented(owner, conn, new_slug):
    t = load_tenant(owner, tenant_profile(0, new_slug("seg")), 1200, pool_size=600)
    build_tenant(conn, t.tenant_id, 600)
    with tenant_transaction(conn, t.tenant_id, PIPELINE_ROLE):
        # build_tenant made segments as the assets do: these tests start without them
        conn.execute("delete from lookalike_audience_segment")
        conn.execute("update lookalike_audience set metadata = metadata - 'segments'")
        conn.execute("update lookalike_audience set status = 'published', rules = rules || "
                     "'{\"destinations\": [\"meta\", {\"platform\": \"crm\", \"per_segment\": true}]}'::jsonb "
                     "where name = 'Lookalikes of won deals'")
    return t


def segment_rows(conn, tid):
    with tenant_transaction(conn, tid, PIPELINE_ROLE):
        return conn.execute(
            "select a.name, s.segment_no, s.name, s.size, (select count(*) from lookalike_segment_member m "
            " where m.tenant_id = s.tenant_id and m.audience_id = s.audience_id and m.segment_no = s.segment_no) "
            "from lookalike_audience_segment s join lookalike_audience a using (tenant_id, audience_id) "
            "order by 1, 2").fetchall()


def test_published_audiences_are_split_within_bounds_and_kept_when_nothing_changed(conn, segmented):
    results = {r.name: r for r in refresh_segments(conn, segmented.tenant_id)}
    won = results["Lookalikes of won deals"]
    assert won.status == "built", won.reason
    assert won.k >= 2 and all(won.lo <= s.size <= won.hi for s in won.segments)
    rows = [r for r in segment_rows(conn, segmented.tenant_id) if r[0] == won.name]
    assert [r[3] for r in rows] == [r[4] for r in rows]  # stored members match each segment's size
    assert sum(r[3] for r in rows) == won.members
    for r in results.values():
        assert r.status in ("built", "skipped", "cleared"), r
        if r.status == "skipped":
            assert "too few" in r.reason or "do not differ enough" in r.reason
    # the same input again: nothing rewritten, same segments
    again = {r.name: r for r in refresh_segments(conn, segmented.tenant_id)}
    assert again[won.name].status == "unchanged"
    assert segment_rows(conn, segmented.tenant_id) == segment_rows(conn, segmented.tenant_id)
    # retired: its segments go
    with tenant_transaction(conn, segmented.tenant_id, PIPELINE_ROLE):
        conn.execute("update lookalike_audience set status = 'retired' where name = %s", (won.name,))
    assert {r.name: r.status for r in refresh_segments(conn, segmented.tenant_id)}[won.name] == "cleared"
    assert not [r for r in segment_rows(conn, segmented.tenant_id) if r[0] == won.name]


def test_each_segment_is_exported_on_request(conn, segmented, tmp_path):
    refresh_segments(conn, segmented.tenant_id)
    results = run_exports(conn, segmented.tenant_id, LocalFolderDestination(tmp_path), backoff_seconds=0.01)
    won = [r for r in results if r.audience == "Lookalikes of won deals"]
    whole = [r for r in won if r.segment_no is None]
    parts = [r for r in won if r.segment_no is not None]
    assert {r.format for r in whole} == {"crm", "meta"} and all(r.status == "succeeded" for r in whole)
    assert parts and {r.format for r in parts} == {"crm"} and all(r.status == "succeeded" for r in parts)
    crm_rows = next(r.rows for r in whole if r.format == "crm")
    assert sum(r.rows for r in parts) == crm_rows
    folder = next(p for p in (tmp_path / segmented.slug).iterdir() if p.name.startswith("lookalikes-of-won-deals"))
    assert sorted(p.name for p in folder.glob("segment-*")) == [f"segment-{r.segment_no:02d}" for r in parts]
    with open(tmp_path / segmented.slug / "index.csv", newline="") as f:
        index = list(csv.DictReader(f))
    assert {row["segment"] for row in index if row["audience"] == "Lookalikes of won deals"} == \
        {"", *(str(r.segment_no) for r in parts)}
    with tenant_transaction(conn, segmented.tenant_id, PIPELINE_ROLE):
        assert conn.execute("select count(*) from lookalike_export_job where segment_no is not null").fetchone()[0] \
            == len(parts)


def test_per_segment_export_without_segments_says_why(conn, segmented, tmp_path):
    results = run_exports(conn, segmented.tenant_id, LocalFolderDestination(tmp_path), backoff_seconds=0.01)
    skipped = [r for r in results if r.audience == "Lookalikes of won deals" and r.status == "skipped"]
    assert skipped and "has no segments" in skipped[0].error
