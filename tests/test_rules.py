"""The rule language: every operator, refusals with named errors, injection attempts, reach, exclusions."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from lookalike_assets.domain.rules import (
    RuleError,
    apply_rules,
    compile_filters,
    destinations_of,
    exclusion_order,
    overlap,
    parse_rules,
    reach_curve,
)

POOL = [
    {"candidate_id": f"c{i}", "lead_id": f"l{i}", "similarity_score": s, "rank_score": None, "decile": d,
     "industry": ind, "company_size": size, "country": country, "bio": bio, "web_visits": visits,
     "email": email, "phone": None, "last_activity_at": datetime(2026, 1, 1 + i, tzinfo=timezone.utc),
     "attributes": {"plan": plan, "seats": seats}}
    for i, (s, d, ind, size, country, bio, visits, email, plan, seats) in enumerate([
        (0.91, 10, "Software", 120, "Germany", "Scaling data pipelines", 12, "a@x.io", "enterprise", 50),
        (0.85, 9, "fintech", 40, "united states", None, 3, None, "starter", 5),
        (0.80, 8, "retail", 9000, "brazil", "Paper forms", 0, "c@x.io", "enterprise", "12"),
        (0.70, 5, "software", None, None, "", 1, "d@x.io", None, None),
        (0.60, 2, "'; drop table leads; --", 75, "ünïcødé", "x", 7, None, "starter", 8),
    ])
]


def members(rules: dict, pool=POOL, eligible: int = 100, excluded=None, attrs=None) -> list[str]:
    attrs = attrs if attrs is not None else {"plan": "text", "seats": "number"}
    r = parse_rules(rules, attrs)
    candidate_of = {row["lead_id"]: row["candidate_id"] for row in pool}  # members are lead ids
    return [candidate_of[x] for x in
            apply_rules(r, pool, tenant_eligible=eligible, excluded=excluded, attribute_types=attrs).members]


@pytest.mark.parametrize("flt, expected", [
    ({"field": "industry", "op": "in", "values": ["software", "FINTECH "]}, ["c0", "c1", "c3"]),
    ({"field": "industry", "op": "not_in", "values": ["software"]}, ["c1", "c2", "c4"]),
    ({"field": "industry", "op": "eq", "value": "Retail"}, ["c2"]),
    ({"field": "industry", "op": "ne", "value": "retail"}, ["c0", "c1", "c3", "c4"]),
    ({"field": "bio", "op": "contains", "value": "DATA"}, ["c0"]),
    ({"field": "bio", "op": "present"}, ["c0", "c2", "c4"]),
    ({"field": "bio", "op": "absent"}, ["c1", "c3"]),
    ({"field": "company_size", "op": "between", "min": 50, "max": 200}, ["c0", "c4"]),
    ({"field": "company_size", "op": "between", "min": 1000}, ["c2"]),
    ({"field": "company_size", "op": "gt", "value": 120}, ["c2"]),
    ({"field": "company_size", "op": "gte", "value": 120}, ["c0", "c2"]),
    ({"field": "company_size", "op": "lt", "value": 75}, ["c1"]),
    ({"field": "company_size", "op": "lte", "value": 75}, ["c1", "c4"]),
    ({"field": "company_size", "op": "in", "values": [40, "9000"]}, ["c1", "c2"]),
    ({"field": "web_visits", "op": "eq", "value": 0}, ["c2"]),
    ({"field": "last_activity_at", "op": "gte", "value": "2026-01-03"}, ["c2", "c3", "c4"]),
    ({"field": "last_activity_at", "op": "between", "min": "2026-01-02", "max": "2026-01-03T12:00:00Z"}, ["c1", "c2"]),
    ({"field": "email", "op": "present"}, ["c0", "c2", "c3"]),
    ({"field": "attributes.plan", "op": "eq", "value": "enterprise"}, ["c0", "c2"]),
    ({"field": "attributes.seats", "op": "gte", "value": 10}, ["c0", "c2"]),
    ({"field": "decile", "op": "gte", "value": 8}, ["c0", "c1", "c2"]),
    ({"field": "country", "op": "eq", "value": "ÜNÏCØDÉ"}, ["c4"]),
])
def test_each_operator(flt, expected):
    assert sorted(members({"filters": [flt]})) == expected


def test_filters_combine_with_and_and_min_similarity():
    rules = {"filters": [{"field": "industry", "op": "in", "values": ["software", "fintech"]}],
             "min_similarity": 0.8}
    assert members(rules) == ["c0", "c1"]


@pytest.mark.parametrize("rules, message", [
    ({"filters": [{"field": "revenue", "op": "gt", "value": 1}]}, "unknown field 'revenue'"),
    ({"filters": [{"field": "attributes.mrr", "op": "gt", "value": 1}]}, "unknown field 'attributes.mrr'"),
    ({"filters": [{"field": "industry", "op": "like", "value": "soft%"}]}, "unknown operator 'like'"),
    ({"filters": [{"field": "industry", "op": "gt", "value": "a"}]}, "does not apply to text field 'industry'"),
    ({"filters": [{"field": "email", "op": "eq", "value": "a@x.io"}]}, "does not apply"),
    ({"filters": [{"field": "company_size", "op": "gte", "value": "big"}]}, "'big' is not a valid number"),
    ({"filters": [{"field": "company_size", "op": "between", "min": 9, "max": 1}]}, "greater than max"),
    ({"filters": [{"field": "industry", "op": "in", "values": []}]}, "non-empty 'values'"),
    ({"filters": [{"field": "industry", "op": "present", "value": "x"}]}, "takes no value"),
    ({"filters": [{"field": "industry", "op": "in", "values": ["a"], "where": "1=1"}]}, "unknown key 'where'"),
    ({"filter": []}, "unknown key 'filter'"),
    ({"min_similarity": 2}, "min_similarity"),
    ({"reach": {}}, "reach needs"),
    ({"reach": {"max_percent": 0}}, "max_percent"),
    ({"exclude": {"suppression_lists": False}}, "suppression_lists"),
    ({"destinations": ["myspace"]}, "unknown destination 'myspace'"),
])
def test_malformed_rules_are_refused_with_a_named_error(rules, message):
    with pytest.raises(RuleError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_rules(rules, {"plan": "text"})


def test_rules_must_be_an_object():
    with pytest.raises(RuleError, match="JSON object"):
        parse_rules(["industry"])  # type: ignore[arg-type]


def test_error_lists_every_problem():
    with pytest.raises(RuleError) as err:
        parse_rules({"filters": [{"field": "nope", "op": "eq", "value": 1},
                                 {"field": "industry", "op": "gt", "value": 1}]})
    assert "filters[0]" in str(err.value) and "filters[1]" in str(err.value)


@pytest.mark.parametrize("value", ["'; drop table leads; --", "x' OR '1'='1", "\"); delete from tenants; --",
                                   "robert'); DROP TABLE students;--", "\u202e\u0000nul", "%(tenant_id)s", ":tenant_id"])
def test_injection_attempts_are_just_values(value):
    pool = [dict(POOL[0], candidate_id="hit", industry=value), dict(POOL[1], candidate_id="miss")]
    assert members({"filters": [{"field": "industry", "op": "eq", "value": value}]}, pool) == ["hit"]


def test_reach_cap_absolute_and_percent():
    assert members({"reach": {"max_size": 2}}) == ["c0", "c1"]
    assert members({"reach": {"max_percent": 3}}, eligible=100) == ["c0", "c1", "c2"]
    assert members({"reach": {"max_percent": 50, "max_size": 1}}, eligible=100) == ["c0"]
    assert members({"reach": {"max_percent": 1}}, eligible=50) == []


def test_rank_score_orders_when_present():
    pool = [dict(r, rank_score=1.0 - r["similarity_score"]) for r in POOL]
    assert members({"reach": {"max_size": 2}}, pool) == ["c4", "c3"]


def test_exclusions():
    excluded = {"seed": {"l0"}, "member of Other": {"l1", "l2"}}
    r = parse_rules({}, {})
    plan = apply_rules(r, POOL, tenant_eligible=100, excluded=excluded)
    assert plan.members == ["l3", "l4"]
    assert plan.dropped == {"excluded: seed": 1, "excluded: member of Other": 2}


def test_overlap_and_exclusion_order():
    assert overlap({"a", "b"}, {"X": {"b", "c"}}) == {"X": {"shared": 1, "jaccard": 0.3333}}
    assert exclusion_order({"A": ["B"], "B": [], "C": ["A"]}) == ["B", "A", "C"]
    with pytest.raises(RuleError, match="cycle: A -> B -> A"):
        exclusion_order({"A": ["B"], "B": ["A"]})


def test_reach_curve_is_monotone():
    curve = reach_curve([0.9, 0.8, 0.8, 0.5], points=4)
    sizes = [p["size"] for p in curve]
    assert sizes == sorted(sizes) and sizes[-1] == 4 and curve[0]["threshold"] == 0.9


def platforms(raw):
    return [(d.platform, d.per_segment) for d in destinations_of(raw)]


def test_destinations():
    assert platforms(None) == [("crm", False)]
    assert platforms({"destinations": ["meta", "meta", "crm"]}) == [("meta", False), ("crm", False)]
    assert platforms({"destinations": [{"platform": "meta", "per_segment": True}, "crm"]}) == [
        ("meta", True), ("crm", False)]
    with pytest.raises(RuleError):
        destinations_of({"destinations": "meta"})
    with pytest.raises(RuleError, match=r"rules.destinations\[0\].per_segment"):
        destinations_of({"destinations": [{"platform": "meta", "per_segment": "often"}]})
    with pytest.raises(RuleError, match="unknown destination 'myspace'"):
        destinations_of({"destinations": ["meta", "myspace"]})


@pytest.mark.parametrize("segments, message", [
    ({"k_min": 5, "k_max": 2}, "k_min \\(5\\) is greater than k_max"),
    ({"min_share": 0.6, "max_share": 0.5}, "min_share"),
    ({"k": 3}, "unknown key 'k'"),
    ({"min_percent": 0}, "greater than 0"),
])
def test_segment_settings_are_validated(segments, message):
    with pytest.raises(RuleError, match=message):
        parse_rules({"segments": segments})


def test_relative_dates_are_fixed_when_the_audience_is_refreshed():
    now = datetime(2026, 11, 22, tzinfo=timezone.utc)
    rules = parse_rules({"filters": [{"field": "last_activity_at", "op": "within_last", "value": "P30D"}]})
    (f,) = compile_filters(rules, now=now)
    assert f.matches({"last_activity_at": "2026-11-01T00:00:00Z"})
    assert not f.matches({"last_activity_at": "2026-10-01T00:00:00Z"}) and not f.matches({})
    (g,) = compile_filters(parse_rules({"filters": [
        {"field": "last_activity_at", "op": "not_within_last", "value": "P2W"}]}), now=now)
    assert g.matches({"last_activity_at": "2026-10-01"}) and g.matches({}) and not g.matches(
        {"last_activity_at": "2026-11-20"})
    for bad, msg in (("30 days", "ISO 8601 duration"), ("-P3D", "ISO 8601|positive"), (30, "ISO 8601")):
        with pytest.raises(RuleError, match=msg):
            parse_rules({"filters": [{"field": "last_activity_at", "op": "within_last", "value": bad}]})
    with pytest.raises(RuleError, match="does not apply to number field"):
        parse_rules({"filters": [{"field": "web_visits", "op": "within_last", "value": "P3D"}]})
