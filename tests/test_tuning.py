"""The tuning recommendation: the reach that maximizes expected value (or keeps a target precision), counting
caused conversions when a holdout showed a significant lift; economics validated."""

from __future__ import annotations

import pytest

from lookalike_assets.domain.tuning import CurvePoint, TuningError, caused_share, parse_economics, recommend

# a pool where the best 100 convert at 30 %, the next 200 at 10 %, the next 700 at 2 %
CURVE = [CurvePoint(0.9, 100, 30), CurvePoint(0.7, 300, 50), CurvePoint(0.5, 1000, 64)]


def test_the_size_that_pays_most():
    # 1 per contact, 10 per conversion: 100 -> 300-100 = 200; 300 -> 500-300 = 200; 1000 -> 640-1000 < 0
    rec = recommend(CURVE, parse_economics({"cost_per_contact": 1, "value_per_conversion": 10}))
    assert rec.max_size == 100 and rec.expected_value == 200 and rec.basis == "value"  # a tie goes to the smaller
    rec = recommend(CURVE, parse_economics({"cost_per_contact": 1, "value_per_conversion": 20}))
    assert rec.max_size == 300 and rec.expected_value == 700 and rec.conversion_rate == pytest.approx(50 / 300, abs=1e-6)
    rec = recommend(CURVE, parse_economics({"cost_per_contact": 0, "value_per_conversion": 1}))
    assert rec.max_size == 1000  # contacts are free: everyone worth anything
    rec = recommend(CURVE, parse_economics({"cost_per_contact": 5, "value_per_conversion": 10}))
    assert rec.max_size is None and "no size pays for itself" in rec.reason


def test_caused_conversions_when_the_holdout_says_so():
    lift = {"significant": True, "absolute_lift": 0.05, "treatment_rate": 0.2}  # a quarter of conversions caused
    assert caused_share(lift) == 0.25
    assert caused_share({**lift, "significant": False}) is None and caused_share(None) is None
    econ = parse_economics({"cost_per_contact": 1, "value_per_conversion": 20})
    rec = recommend(CURVE, econ, lift)
    # caused: 100 -> 150-100 = 50; 300 -> 250-300 < 0
    assert rec.max_size == 100 and rec.expected_conversions == 7.5 and rec.caused_share == 0.25
    assert "caused conversions" in rec.reason
    assert "attributed conversions" in recommend(CURVE, econ).reason


def test_a_target_precision():
    assert recommend(CURVE, parse_economics({"target_precision": 0.15})).max_size == 300
    assert recommend(CURVE, parse_economics({"target_precision": 0.3})).max_size == 100
    rec = recommend(CURVE, parse_economics({"target_precision": 0.5}))
    assert rec.max_size is None and "no size reaches" in rec.reason


def test_no_economics_or_no_curve_no_recommendation():
    assert recommend(CURVE, parse_economics({})) is None
    assert recommend([], parse_economics({"target_precision": 0.1})) is None
    assert recommend([CurvePoint(0.9, 0, 0)], parse_economics({"target_precision": 0.1})) is None


@pytest.mark.parametrize("raw, message", [
    ({"cost_per_contact": 1}, "cost_per_contact and value_per_conversion go together"),
    ({"value_per_conversion": -1, "cost_per_contact": 1}, "value_per_conversion: Input should be greater than 0"),
    ({"target_precision": 2}, "target_precision: Input should be less than or equal to 1"),
    ({"budget": 5}, "budget: Extra inputs are not permitted"),
])
def test_bad_economics_are_refused_by_name(raw, message):
    with pytest.raises(TuningError, match=message):
        parse_economics(raw)


def test_economics_from_the_command_line(cli_env, owner, two_tenants):
    from conftest import cli

    t = two_tenants[0]
    before = owner.execute("select settings -> 'tuning' from tenants where tenant_id = %s", (t.tenant_id,)).fetchone()[0]
    assert before == {"cost_per_contact": 2.0, "value_per_conversion": 40.0}  # the demo's economics
    code, out = cli("tenants", "configure", "--tenant", t.slug, "--cost-per-contact", "1")
    assert code != 0 and "cost_per_contact and value_per_conversion go together" in out
    assert owner.execute("select settings -> 'tuning' from tenants where tenant_id = %s", (t.tenant_id,)).fetchone()[0] \
        == before  # refused: nothing changed
    code, out = cli("tenants", "configure", "--tenant", t.slug, "--cost-per-contact", "0.5",
                    "--value-per-conversion", "40")
    assert code == 0, out
    assert owner.execute("select settings -> 'tuning' from tenants where tenant_id = %s", (t.tenant_id,)).fetchone()[0] \
        == {"cost_per_contact": 0.5, "value_per_conversion": 40}
    code, out = cli("audiences", "show", "Lookalikes of won deals", "--tenant", t.slug)
    assert code == 0 and ("recommended reach" in out or "no recommendation" in out), out
    owner.execute("update tenants set settings = jsonb_set(settings, '{tuning}', %s::jsonb) where tenant_id = %s",
                  ('{"cost_per_contact": 2.0, "value_per_conversion": 40.0}', t.tenant_id))
