"""The generic lead importer: mapping, inference, upsert by id, rejected rows with reasons, real data."""

from __future__ import annotations

import pytest
from conftest import BANK_CSV, spec_of

from lookalike_assets.db import admin as db_admin
from lookalike_assets.db.connect import APP_ROLE, tenant_transaction
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
def tenant(owner, conn, new_slug):
    import uuid

    return uuid.UUID(db_admin.create_tenant(owner, new_slug("imp"), "Importer"))


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
        5: "column 'email': 'not-an-email' is not an email address",
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
    spec = spec_of(conn, tenant)
    assert spec.text_columns == ["industry", "notes"]  # lead fields with words in them are embedded too
    assert {b.name for b in spec.blocks} == {"industry", "employees", "score", "plan"}

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
    assert rep.columns == {"lead": "id", "industry": "industry", "company_size": "company_size", "mrr": "numeric",
                           "bio": "bio"}
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
    spec = spec_of(conn, tenant)
    cols = {c.name for b in spec.blocks for c in b.columns}
    assert "y" not in cols and "duration" not in cols and {"age", "job", "balance", "poutcome"} <= cols
    with tenant_transaction(conn, tenant, APP_ROLE):
        n, yes = conn.execute("select count(*), count(*) filter (where attributes ? 'y') from leads").fetchone()
    assert n == expected and yes == 0
    again = import_leads(conn, tenant, BANK_CSV, ImportMapping(exclude=["y", "duration"]))
    assert again.unchanged == expected


NEWCOMER = """crm_id,email,first_name,last_name,job_title,employees,notes
{rows}"""


def newcomer_csv(path, n=120, extra=""):
    notes = ["Met at the fintech summit; wants to automate board reporting",
             "Asked for a demo of the dashboards next quarter, budget approved",
             "Uses paper forms and fax, not interested this year"]
    titles = ["CFO", "VP Finance", "Controller", "Data Engineer", "CTO", "Head of Data"]
    rows = [f"CRM-{1000 + i},person{i}@corp{i % 17}.com,Name{i % 11},Surname{i % 13},{titles[i % 6]},{10 + 37 * i},"
            f"\"{notes[i % 3]} ({i})\"" for i in range(n)]
    path.write_text(NEWCOMER.format(rows="\n".join(rows)) + extra)
    return path


def test_the_newcomers_csv_maps_right_and_keeps_personal_data_out_of_the_features(conn, tenant, tmp_path):
    rep = import_leads(conn, tenant, newcomer_csv(tmp_path / "crm.csv"))
    assert rep.columns == {"crm_id": "id", "email": "email", "first_name": "first_name", "last_name": "last_name",
                           "job_title": "title", "employees": "company_size", "notes": "text"}
    assert rep.inserted == 120 and not rep.rejected and not rep.warnings
    spec = spec_of(conn, tenant)
    assert "notes" in spec.text_columns  # free text is embedded
    for personal in ("crm_id", "email", "first_name", "last_name"):
        assert personal not in spec.columns, f"{personal} must never be a feature"
    assert {"title", "company_size"} <= set(spec.columns)
    with tenant_transaction(conn, tenant, APP_ROLE):
        row = conn.execute("select external_id, email, first_name, last_name, title, company_size, attributes "
                           "from leads where external_id = 'CRM-1001'").fetchone()
    assert row[:6] == ("CRM-1001", "person1@corp1.com", "Name1", "Surname1", "VP Finance", 47)
    assert set(row[6]) == {"notes"}


def test_a_dry_run_shows_the_plan_and_writes_nothing(conn, tenant, tmp_path):
    rep = import_leads(conn, tenant, newcomer_csv(tmp_path / "crm.csv", 30), dry_run=True)
    assert rep.dry_run and rep.inserted == 30 and rep.spec is not None and rep.spec_version is not None
    assert {p.column: p.reason for p in rep.plan}["crm_id"].startswith("named like an id")
    with tenant_transaction(conn, tenant, APP_ROLE):
        assert conn.execute("select count(*) from leads").fetchone()[0] == 0
    assert spec_of(conn, tenant) is None


def test_new_columns_ask_for_update_spec(conn, tenant, tmp_path):
    first = import_leads(conn, tenant, newcomer_csv(tmp_path / "a.csv", 40))
    f = tmp_path / "b.csv"
    f.write_text("crm_id,job_title,plan\nCRM-1000,CFO,pro\nCRM-1001,CTO,free\nCRM-9999,CTO,free\n")
    with pytest.raises(LeadImportError, match=r"differ from the tenant's feature spec: new column 'plan'.*--update-spec"):
        import_leads(conn, tenant, f)
    with tenant_transaction(conn, tenant, APP_ROLE):
        assert conn.execute("select count(*) from leads").fetchone()[0] == 40  # nothing of b.csv landed
    rep = import_leads(conn, tenant, f, update_spec=True)
    assert rep.inserted == 1 and rep.updated == 2 and rep.spec_version != first.spec_version
    assert "plan" in spec_of(conn, tenant).columns
    with tenant_transaction(conn, tenant, APP_ROLE):  # a file with a few columns keeps the others
        email, title, attrs = conn.execute("select email, title, attributes from leads where external_id = 'CRM-1001'"
                                           ).fetchone()
    assert email == "person1@corp1.com" and title == "CTO" and attrs["plan"] == "free" and "notes" in attrs


def test_every_bad_row_has_a_reason_and_the_good_ones_land(conn, tenant, tmp_path):
    f = tmp_path / "bad.csv"
    f.write_bytes(
        b"crm_id,email,job_title,employees,last_activity_at\n"
        b"c1,a@x.com,CFO,10,2026-01-02\n"
        b",b@x.com,CFO,10,2026-01-02\n"                       # 2 missing id
        b"c1,c@x.com,CFO,10,2026-01-02\n"                     # 3 duplicate id
        b"c4,not-an-email,CFO,10,2026-01-02\n"                # 4 bad email
        b"c5,e@x.com,CFO,10\n"                                # 5 ragged: too few fields
        b"c6,f@x.com,CFO,10,2026-01-02,extra\n"               # 6 ragged: too many
        b"c7,g@x.com,C\x00FO,10,2026-01-02\n"                 # 7 NUL byte
        b"c8,h@x.com,CFO,3000000000,2026-01-02\n"             # 8 over the integer range
        b"c9,i@x.com,CFO,10,yesterday-ish\n"                  # 9 not a date
        b"c10,j@x.com,CFO,10,0001-01-01\n"                    # 10 a date out of range
        b"c11,k@x.com,CFO,12,2026-01-03\n")
    rep = import_leads(conn, tenant, f)
    reasons = {r.row: r.reason for r in rep.rejected}
    assert rep.rows == 11 and rep.inserted == 2 and len(rep.rejected) == 9
    assert reasons[2].startswith("missing id") and reasons[3].startswith("duplicate id 'c1'")
    assert "not an email" in reasons[4]
    assert reasons[5] == "the row has 4 field(s), the header has 5" and "6 field(s)" in reasons[6]
    assert "NUL byte" in reasons[7]
    assert "whole number between 0 and 2,147,483,647" in reasons[8]
    assert "is not a date" in reasons[9] and "out of range" in reasons[10]


def test_a_bad_row_late_in_a_large_file_is_rejected_alone(conn, tenant, tmp_path):
    """7,000 rows with an out-of-range integer at row 6,501: never a half-committed file or a stack trace."""
    lines = ["id,employees"] + [f"r{i},{3_000_000_000 if i == 6501 else i}" for i in range(1, 7001)]
    f = tmp_path / "big.csv"
    f.write_text("\n".join(lines) + "\n")
    rep = import_leads(conn, tenant, f, batch_size=1000)
    assert rep.inserted == 6999 and [r.row for r in rep.rejected] == [6501]
    with tenant_transaction(conn, tenant, APP_ROLE):
        assert conn.execute("select count(*) from leads").fetchone()[0] == 6999


def test_another_encoding_is_reported_or_decoded(conn, tenant, tmp_path):
    f = tmp_path / "latin1.csv"
    f.write_bytes("id,title,notes\nl1,Gérant,Société à Zürich\n".encode("latin-1"))
    with pytest.raises(LeadImportError, match=r"not utf-8-sig text: byte 0xe9 .*--encoding latin-1"):
        import_leads(conn, tenant, f)
    rep = import_leads(conn, tenant, f, encoding="latin-1")
    assert rep.inserted == 1
    with tenant_transaction(conn, tenant, APP_ROLE):
        assert conn.execute("select title from leads").fetchone()[0] == "Gérant"


def test_postal_codes_stay_text_and_decimal_commas_are_read_not_multiplied(conn, tenant, tmp_path):
    f = tmp_path / "eu.csv"  # semicolon-separated, as spreadsheets write it where the comma is the decimal mark
    f.write_text("id;zip;score;rate\n" + "".join(f"z{i};0{2134 + i};{i};{i},5\n" for i in range(20)))
    rep = import_leads(conn, tenant, f)
    assert rep.columns["zip"] == "zip" and rep.columns["rate"] == "numeric" and not rep.rejected
    with tenant_transaction(conn, tenant, APP_ROLE):
        attrs = conn.execute("select attributes from leads where external_id = 'z3'").fetchone()[0]
    assert attrs["zip"] == "02137" and attrs["rate"] == 3.5
    g = tmp_path / "us.csv"
    g.write_text("id,amount\n" + "".join(f"u{i},{i}.25\n" for i in range(20)) + "u99,\"1,5\"\n")
    rep = import_leads(conn, tenant, g, update_spec=True)
    assert [r.reason for r in rep.rejected] == ["column 'amount': '1,5' has a decimal comma in a column that writes "
                                                "decimals with a dot"]


@pytest.mark.skipif(not BANK_CSV.exists(), reason="../shared/datasets/bank-marketing/bank-full.csv is not present")
def test_the_order_of_a_files_columns_changes_nothing(owner, conn, new_slug, tmp_path):
    """The same table with its columns permuted: the same feature spec (layout, blocks, version) and the same
    vector for every row."""
    import uuid

    import numpy as np

    from lookalike_assets.db.connect import PIPELINE_ROLE
    from lookalike_assets.db.vector_copy import to_numpy
    from lookalike_assets.domain.encoder_choice import get_encoder
    from lookalike_assets.pipeline.backtest import shuffle_columns_of
    from lookalike_assets.pipeline.embeddings import refresh_embeddings
    from lookalike_assets.pipeline.features import refresh_lead_features

    src = tmp_path / "a" / "bank.csv"
    src.parent.mkdir()
    with open(BANK_CSV) as f:
        src.write_text("".join(line for i, line in enumerate(f) if i % 40 == 0))  # header + every 40th row
    permuted = tmp_path / "b" / "bank.csv"  # the same file name: the same row ids
    permuted.parent.mkdir()
    order = shuffle_columns_of(src, permuted, seed=3)
    assert order != src.read_text().splitlines()[0].replace('"', "").split(";")
    vectors, specs = [], []
    for path in (src, permuted):
        tid = uuid.UUID(db_admin.create_tenant(owner, new_slug("perm"), "Permuted"))
        rep = import_leads(conn, tid, path, ImportMapping(exclude=["y", "duration"]))
        assert not rep.rejected
        refresh_lead_features(conn, tid)
        refresh_embeddings(conn, tid, get_encoder("none"))
        spec = spec_of(conn, tid)
        specs.append((spec.version, spec.layout, [(b.name, [c.name for c in b.columns]) for b in spec.blocks]))
        with tenant_transaction(conn, tid, PIPELINE_ROLE):
            vectors.append({ext: to_numpy(v) for ext, v in conn.execute(
                "select l.external_id, e.embedding from lead_embeddings e join leads l using (tenant_id, lead_id)")})
    assert specs[0] == specs[1]
    assert vectors[0].keys() == vectors[1].keys() and len(vectors[0]) > 1000
    assert max(float(np.abs(vectors[0][k] - vectors[1][k]).max()) for k in vectors[0]) < 1e-6
