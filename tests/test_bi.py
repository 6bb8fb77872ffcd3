"""The BI starter's provisioning files, as far as they can be tried without Metabase (which cannot run here): each
question's SQL runs against the built marts through a tenant's own bound BI login and returns that tenant's rows
only, and the payloads Metabase's API receives are well formed. What is not tried here: Metabase's API itself
(README: BI starter)."""

from __future__ import annotations

import json

import psycopg
import pytest

from lookalike_assets.bi.metabase import (
    Card,
    ProvisioningError,
    dashboard_layout,
    database_payload,
    load_cards,
)
from lookalike_assets.db import admin as db_admin
from lookalike_assets.db.connect import connect


@pytest.fixture
def bi_login(test_url, two_tenants):
    own = connect(test_url)
    logins = [db_admin.grant_access(own, t.tenant_id, "bi", "Metabase (test)") for t in two_tenants]
    yield [x.conninfo(test_url) for x in logins]
    for x in logins:
        db_admin.revoke_access(own, x.role)
    own.close()


def test_every_question_runs_as_the_tenants_own_login_and_sees_only_its_tenant(owner, marts_built, bi_login,
                                                                                 two_tenants):
    cards = load_cards()
    assert [c.display for c in cards] == ["bar", "line", "line", "table"]
    for tenant, conninfo in zip(two_tenants, bi_login):
        with psycopg.connect(conninfo) as c:
            names = {r[0] for r in c.execute("select audience_name from marts.mart_audience_summary")}
            for card in cards:
                cur = c.execute(card.sql)
                rows = cur.fetchall()
                cols = [d.name for d in cur.description]
                assert rows, card.name
                for name in card.dimensions + card.metrics:
                    assert name in cols, (card.name, name)
                if "audience_name" in cols:
                    assert {r[cols.index("audience_name")] for r in rows} <= names
        own_names = {r[0] for r in owner.execute(
            "select audience_name from marts.mart_audience_summary where tenant_id = %s", (tenant.tenant_id,))}
        assert names == own_names


def test_the_payloads_metabase_receives():
    cards = load_cards()
    body = cards[0].payload(database_id=7)
    assert body["dataset_query"] == {"type": "native", "native": {"query": cards[0].sql}, "database": 7}
    assert body["visualization_settings"]["graph.metrics"] == ["conversion_rate"]
    json.dumps(body)
    layout = dashboard_layout([11, 12, 13, 14])
    cells = {(d["row"] + r, d["col"] + c) for d in layout for r in range(d["size_y"]) for c in range(d["size_x"])}
    assert len(cells) == sum(d["size_x"] * d["size_y"] for d in layout)  # no two questions overlap
    assert all(d["col"] + d["size_x"] <= 24 for d in layout)
    db = database_payload("lookalike marts (a)", "host=postgres port=5432 dbname=lookalike user=lk_a_bi password=x")
    assert db["details"]["user"] == "lk_a_bi" and db["details"]["schema-filters-patterns"] == "marts"


def test_a_malformed_question_file_is_refused(tmp_path):
    (tmp_path / "01.sql").write_text("-- title: x\n-- display: pie chart\nselect 1\n")
    with pytest.raises(ProvisioningError, match="display 'pie chart'"):
        load_cards(tmp_path)
    with pytest.raises(ProvisioningError, match="no questions"):
        load_cards(tmp_path / "empty")
    assert Card("x", "select 1").payload(1)["visualization_settings"] == {}
