"""The generic lead importer: mapping, inference, upsert by id, rejected rows with reasons, real data."""

from __future__ import annotations

import pytest
from conftest import BANK_CSV

from lookalike_assets.db.connect import APP_ROLE, tenant_transaction
from lookalike_assets.pipeline import admin
from lookalike_assets.pipeline.features import load_spec
from lookalike_assets.pipeline.importer import ImportMapping, LeadImportError, import_leads

GOOD_AND_BAD = """id,email,first,industry,employees,score,notes,plan
a1,ann@example.com,Ann,Software,120,0.5,"likes, commas",pro
a2,,Bo,retail,8,1.5,,free
,c@example.com,Cy,retail,3,2,,free
a1,dup@example.com,Dee,fintech,4,2,,pro
a4,not-an-email,Eve,fintech,4,2,,pro
a5,e5@example.com,Flo,fintech,many,2,,pro
a6,e6@example.com,Gus,fintech,-3,2,,pro
a7,e7@example.com,Hal,"'; drop table leads; --",7,x,,pro
a8,e8@example.com,Ivy,software,9,3,"ünïcødé ✓",team
"""


@pytest.fixture
def tenant(conn, new_slug):
    import uuid

    return uuid.UUID(admin.create_tenant(conn, new_slug("imp"), "Importer"))


def test_mapping_upsert_and_rejected_rows(conn, tenant, tmp_path):
    f = tmp_path / "leads.csv"
    f.write_text(GOOD_AND_BAD)
    m = ImportMapping(id="id", email="email", first_name="first", text=["notes"], categorical=["industry", "plan"],
                      numeric=["employees", "score"], infer=False)
    rep = import_leads(conn, tenant, f, m)
    assert rep.rows == 9
    reasons = {r.row: r.reason for r in rep.rejected}
    assert reasons == {
        3: "missing id in column 'id'",
        4: "duplicate id 'a1' (first at row 1)",
        5: "column 'email': not an email address",
        6: "column 'employees': 'many' is not a number",
        8: "column 'score': 'x' is not a number",
    }
    assert rep.inserted == 4 and rep.updated == 0  # a1, a2, a6, a8
    assert rep.spec_version is not None
    with tenant_transaction(conn, tenant, APP_ROLE):
        rows = {r[0]: r[1:] for r in conn.execute(
            "select external_id, email, first_name, industry, attributes from leads order by 1")}
    assert rows["a1"][:3] == ("ann@example.com", "Ann", "Software")
    assert rows["a1"][3] == {"employees": 120.0, "score": 0.5, "notes": "likes, commas", "plan": "pro"}
    assert rows["a8"][3]["notes"] == "ünïcødé ✓"
    assert rows["a6"][3]["employees"] == -3.0  # an attribute, not the non-negative company_size column
    spec = load_spec(conn, tenant)
    assert spec.text_columns == ["notes"] and {b.name for b in spec.blocks} == {"industry", "employees", "score", "plan"}

    # upsert: the same file again changes nothing; a changed row updates
    again = import_leads(conn, tenant, f, m)
    assert again.inserted == 0 and again.updated == 0 and again.unchanged == 4
    f.write_text(GOOD_AND_BAD.replace("Bo,retail", "Bo,wholesale"))
    changed = import_leads(conn, tenant, f, m)
    assert changed.updated == 1 and changed.inserted == 0


def test_unknown_columns_and_unreadable_files_are_refused(conn, tenant, tmp_path):
    f = tmp_path / "leads.csv"
    f.write_text(GOOD_AND_BAD)
    with pytest.raises(LeadImportError, match="not in the file: revenue"):
        import_leads(conn, tenant, f, ImportMapping(id="id", numeric=["revenue"]))
    with pytest.raises(LeadImportError, match="mapped twice"):
        import_leads(conn, tenant, f, ImportMapping(id="id", numeric=["score"], categorical=["score"]))
    with pytest.raises(LeadImportError, match="file not found"):
        import_leads(conn, tenant, tmp_path / "nope.csv")
    bad = tmp_path / "x.xlsx"
    bad.write_text("a")
    with pytest.raises(LeadImportError, match="unsupported file type"):
        import_leads(conn, tenant, bad)
    empty = tmp_path / "empty.csv"
    empty.write_text("id,name\n")
    with pytest.raises(LeadImportError, match="no data rows"):
        import_leads(conn, tenant, empty)
    with tenant_transaction(conn, tenant, APP_ROLE):
        assert conn.execute("select count(*) from leads").fetchone()[0] == 0


def test_parquet_and_type_inference(conn, tenant, tmp_path):
    import pandas as pd

    df = pd.DataFrame({"lead": ["p1", "p2", "p3"], "industry": ["software", "retail", None],
                       "company_size": [10, 2000, 30], "mrr": [1.5, 2.5, None], "bio": ["Data team", None, "x"]})
    f = tmp_path / "leads.parquet"
    df.to_parquet(f)
    rep = import_leads(conn, tenant, f, ImportMapping(id="lead"))
    assert rep.inserted == 3 and not rep.rejected
    assert rep.columns == {"lead": "id", "industry": "categorical", "company_size": "numeric", "mrr": "numeric",
                           "bio": "text"}
    with tenant_transaction(conn, tenant, APP_ROLE):
        size, attrs = conn.execute("select company_size, attributes from leads where external_id = 'p2'").fetchone()
    assert size == 2000 and attrs == {"mrr": 2.5}


@pytest.mark.skipif(not BANK_CSV.exists(), reason="../shared/datasets/bank-marketing/bank-full.csv is not present")
def test_bank_marketing_csv(conn, tenant):
    import csv

    with open(BANK_CSV, newline="") as f:
        expected = sum(1 for _ in csv.reader(f)) - 1  # 45,212 data rows in this copy
    rep = import_leads(conn, tenant, BANK_CSV, ImportMapping(exclude=["y", "duration"]))
    assert rep.rows == expected and rep.inserted == expected and not rep.rejected
    assert rep.columns["y"] == "ignored" and rep.columns["age"] == "numeric" and rep.columns["job"] == "categorical"
    assert any("no id column" in w for w in rep.warnings)
    spec = load_spec(conn, tenant)
    cols = {c.name for b in spec.blocks for c in b.columns}
    assert "y" not in cols and "duration" not in cols and {"age", "job", "balance", "poutcome"} <= cols
    with tenant_transaction(conn, tenant, APP_ROLE):
        n, yes = conn.execute("select count(*), count(*) filter (where attributes ? 'y') from leads").fetchone()
    assert n == expected and yes == 0
    again = import_leads(conn, tenant, BANK_CSV, ImportMapping(exclude=["y", "duration"]))
    assert again.unchanged == expected
