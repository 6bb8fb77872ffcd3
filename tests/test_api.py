"""The REST API against the real database: keys bound to a tenant, every path refusing another tenant's key,
seeds, audiences, jobs, similar leads, scoring a new lead, lead upserts and feedback."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest
from conftest import built_tenants
from fastapi.testclient import TestClient

from lookalike_assets.db.admin import grant_api_key, revoke_api_key
from lookalike_assets.db.connect import PIPELINE_ROLE, connect
from lookalike_assets.pipeline.online import as_array


@pytest.fixture(scope="module")
def api(test_url):
    from lookalike_assets.api.main import create_app
    from lookalike_assets.domain.encoder_choice import get_encoder

    own = connect(test_url)
    tenants = [(t, grant_api_key(own, t.tenant_id, f"{t.slug} tests").key)
               for t in built_tenants(test_url, [(0, "api-a"), (1, "api-b")], 300, pool_size=100)]
    with TestClient(create_app(test_url, encoder=get_encoder("hashing"))) as client:
        yield client, tenants, own
    own.close()


def auth(key):
    return {"Authorization": f"Bearer {key}"}


def test_health_and_openapi(api):
    client, *_ = api
    assert client.get("/health").json()["status"] == "ok"
    assert client.get("/ready").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert "/v1/tenants/{tenant_id}/leads/{lead_id}/similar" in paths


def test_no_key_a_bad_key_and_a_revoked_key_get_401(api, owner):
    client, ((a, key_a), _), own = api
    url = f"/v1/tenants/{a.tenant_id}/lookalike/seed"
    r = client.get(url)
    assert r.status_code == 401 and r.json()["code"] == "unauthenticated"
    assert client.get(url, headers=auth("lk_" + "x" * 40)).json()["code"] == "invalid_key"
    made = grant_api_key(own, a.tenant_id, "short-lived")
    assert client.get(url, headers=auth(made.key)).status_code == 200
    revoke_api_key(own, made.key_id)
    assert client.get(url, headers=auth(made.key)).status_code == 401


def test_a_key_of_tenant_a_gets_403_on_every_path_of_tenant_b(api):
    client, ((_a, key_a), (b, _key_b)), _ = api
    tb = str(b.tenant_id)
    some = "00000000-0000-0000-0000-000000000001"
    calls = [
        ("get", f"/v1/tenants/{tb}/lookalike/seed", None),
        ("post", f"/v1/tenants/{tb}/lookalike/seed", {"lead_ids": ["x"]}),
        ("delete", f"/v1/tenants/{tb}/lookalike/seed/{some}", None),
        ("post", f"/v1/tenants/{tb}/lookalike/audience", {"name": "x"}),
        ("post", f"/v1/tenants/{tb}/lookalike/audience/draft", {"description": "CFOs in Germany", "create": True}),
        ("get", f"/v1/tenants/{tb}/lookalike/audience/{some}", None),
        ("post", f"/v1/tenants/{tb}/lookalike/audience/{some}/publish", None),
        ("post", f"/v1/tenants/{tb}/lookalike/audience/{some}/retire", None),
        ("post", f"/v1/tenants/{tb}/lookalike/audience/{some}/feedback",
         {"candidate_id": some, "event_type": "click", "event_id": "e"}),
        ("post", f"/v1/tenants/{tb}/lookalike/audience/{some}/export", {"platform": "meta"}),
        ("get", f"/v1/tenants/{tb}/lookalike/audience/{some}/performance", None),
        ("get", f"/v1/tenants/{tb}/lookalike/jobs/{some}", None),
        ("get", f"/v1/tenants/{tb}/leads/x/similar", None),
        ("post", f"/v1/tenants/{tb}/leads/score", {"attributes": {"title": "CFO"}}),
        ("post", f"/v1/tenants/{tb}/leads", {"leads": [{"external_id": "n1"}]}),
        ("get", f"/v1/tenants/{tb}/lookalike/audience", None),
        ("patch", f"/v1/tenants/{tb}/lookalike/audience/{some}", {"name": "x"}),
        ("delete", f"/v1/tenants/{tb}/lookalike/audience/{some}", None),
        ("post", f"/v1/tenants/{tb}/lookalike/audience/estimate", {"rules": {}}),
        ("get", f"/v1/tenants/{tb}/leads?q=a", None),
        ("get", f"/v1/tenants/{tb}/destinations", None),
        ("get", f"/v1/tenants/{tb}/columns", None),
        ("put", f"/v1/tenants/{tb}/columns/title", {"label": "job title"}),
        ("delete", f"/v1/tenants/{tb}/columns/title", None),
        ("post", f"/v1/tenants/{tb}/destinations", {"name": "x", "platform": "webhook",
                                                     "options": {"url": "https://example.com"},
                                                     "credentials": {"signing_secret": "s"}}),
        ("patch", f"/v1/tenants/{tb}/destinations/{some}", {"name": "y"}),
        ("delete", f"/v1/tenants/{tb}/destinations/{some}", None),
    ]
    covered = {(m, p.replace(tb, "{tenant_id}").split("?")[0]) for m, p, _ in calls}
    assert len(covered) == len(calls)
    for method, path, body in calls:
        r = client.request(method, path, headers=auth(key_a), json=body)
        assert r.status_code == 403, (method, path, r.text)
        assert r.json()["code"] == "forbidden"
    # every tenant path of the service is in the list
    routes = {p for p in client.get("/openapi.json").json()["paths"] if "{tenant_id}" in p}
    assert len(routes) == len({p for _, p in covered})


def test_seeds_add_list_and_delete(api, owner):
    client, ((a, key), _), _ = api
    base = f"/v1/tenants/{a.tenant_id}/lookalike/seed"
    ext = [r[0] for r in owner.execute("select external_id from leads where tenant_id = %s and not is_seed "
                                       "order by external_id limit 2", (a.tenant_id,))]
    r = client.post(base, headers=auth(key), json={"lead_ids": ext, "label": "won"})
    assert r.status_code == 201, r.text
    seed_ids = r.json()["seed_ids"]
    assert len(seed_ids) == 2
    assert client.post(base, headers=auth(key), json={"lead_ids": ["nobody"]}).status_code == 404
    # a lead id works as its external id does; another tenant's lead id is not found
    lid, = owner.execute("select lead_id::text from leads where tenant_id = %s and not is_seed "
                         "order by external_id offset 2 limit 1", (a.tenant_id,)).fetchone()
    theirs, = owner.execute("select lead_id::text from leads where tenant_id <> %s limit 1", (a.tenant_id,)).fetchone()
    r = client.post(base, headers=auth(key), json={"lead_ids": [lid, theirs], "label": "won"})
    assert r.status_code == 201 and len(r.json()["seed_ids"]) == 1 and r.json()["not_found"] == [theirs], r.text
    assert client.delete(f"{base}/{r.json()['seed_ids'][0]}", headers=auth(key)).status_code == 204
    r = client.post(base, headers=auth(key), json={"lead_ids": ext, "label": "bogus"})
    assert r.status_code == 422 and r.json()["field"] == "label"
    page = client.get(base, headers=auth(key), params={"limit": 5}).json()
    assert len(page["items"]) == 5 and page["next_cursor"]
    # issue 33 §4: created_at is when the seed was added (it read the source column by position: "cli"), and the
    # source is said as itself
    for i in page["items"]:
        assert datetime.fromisoformat(i["created_at"]).tzinfo is not None, i
        assert i["source"] in ("cli", "api", "demo", "studio", "import"), i
    seen = {i["seed_id"] for i in page["items"]}
    nxt = client.get(base, headers=auth(key), params={"limit": 5, "cursor": page["next_cursor"]}).json()
    assert not seen & {i["seed_id"] for i in nxt["items"]}
    # every live seed once, in the order added, across pages
    everyone, cursor = [], None
    while True:
        got = client.get(base, headers=auth(key), params={"limit": 7, **({"cursor": cursor} if cursor else {})}).json()
        everyone += got["items"]
        cursor = got["next_cursor"]
        if not cursor:
            break
    live = owner.execute("select count(*) from lookalike_seed where tenant_id = %s and deleted_at is null",
                         (a.tenant_id,)).fetchone()[0]
    assert len(everyone) == len({i["seed_id"] for i in everyone}) == live
    assert [i["created_at"] for i in everyone] == sorted(i["created_at"] for i in everyone)
    assert client.get(base, headers=auth(key), params={"cursor": "abc"}).json()["code"] == "invalid_cursor"
    assert client.get(base, headers=auth(key), params={"cursor": "!!"}).json()["field"] == "cursor"
    # well-formed base64 of something else than a position this API wrote: a 400, never a 500
    for forged in ("NR==", "WzFd", "WyJhIiwgMV0=", "bnVsbA=="):  # 5, [1], ["a", 1], null
        r = client.get(base, headers=auth(key), params={"cursor": forged})
        assert r.status_code == 400 and r.json()["code"] == "invalid_cursor", (forged, r.text)
    nul = client.post(base, headers=auth(key), json={"lead_ids": ["a\u0000b"]})
    assert nul.status_code == 422 and nul.json()["field"] == "lead_ids.0"
    assert client.delete(f"{base}/{seed_ids[0]}", headers=auth(key)).status_code == 204
    assert client.delete(f"{base}/{seed_ids[0]}", headers=auth(key)).status_code == 404


def test_audiences_create_get_publish_and_jobs(api, owner):
    client, ((a, key), _), _ = api
    base = f"/v1/tenants/{a.tenant_id}/lookalike"
    r = client.post(f"{base}/audience", headers=auth(key), json={"name": "API buyers", "seed_set": {"labels": ["won"]},
                                                                 "rules": {"reach": {"max_size": 50}}})
    assert r.status_code == 201, r.text
    created = r.json()
    assert client.post(f"{base}/audience", headers=auth(key), json={"name": "API buyers"}).status_code == 409
    bad = client.post(f"{base}/audience", headers=auth(key), json={"name": "x", "rules": {"filters": [{"field": "salary"}]}})
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_audience"
    job = client.get(f"{base}/jobs/{created['job_id']}", headers=auth(key)).json()
    assert job["status"] == "pending" and job["audience_id"] == created["audience_id"]
    assert client.get(f"{base}/jobs/00000000-0000-0000-0000-000000000009", headers=auth(key)).status_code == 404
    # an audience the pipeline built: members with scores, reasons and deciles, by page
    aid = owner.execute("select audience_id from lookalike_audience where tenant_id = %s and size_estimate > 10 "
                        "and status = 'published' order by name limit 1", (a.tenant_id,)).fetchone()[0]
    first = client.get(f"{base}/audience/{aid}", headers=auth(key), params={"limit": 10}).json()
    assert len(first["members"]) == 10 and first["next_cursor"]
    m = first["members"][0]
    assert m["decile"] and m["reasons"] and m["similarity_score"] is not None
    # a published audience's balanced segments, and each member's
    members = owner.execute("select count(*) from lookalike_audience_member where tenant_id = %s and audience_id = %s",
                            (a.tenant_id, aid)).fetchone()[0]
    assert len(first["segments"]) >= 2 and sum(s["size"] for s in first["segments"]) == members
    assert {x["segment_no"] for x in first["members"]} <= {s["segment_no"] for s in first["segments"]}
    assert None not in {x["segment_no"] for x in first["members"]}
    assert first["segments"][0]["name"] and first["segmentation"]["k"] == len(first["segments"])
    second = client.get(f"{base}/audience/{aid}", headers=auth(key),
                        params={"limit": 10, "cursor": first["next_cursor"]}).json()
    assert not {x["candidate_id"] for x in first["members"]} & {x["candidate_id"] for x in second["members"]}
    for forged in ("NR==", "WyJhIiwgImIiXQ==", "WzAuNSwgIm5vdC1hLXV1aWQiXQ==",
                   "WzAuNSwgIm5vdC1hLXV1aWQiLCAiIl0="):  # 5, ["a", "b"], [0.5, "not-a-uuid"], the same with a build
        r = client.get(f"{base}/audience/{aid}", headers=auth(key), params={"cursor": forged})
        assert r.status_code == 400 and r.json()["code"] == "invalid_cursor", (forged, r.text)
    assert client.post(f"{base}/audience/{created['audience_id']}/publish", headers=auth(key)).json()["changed"]
    assert client.post(f"{base}/audience/{created['audience_id']}/retire", headers=auth(key)).json()["status"] == "retired"
    assert client.get(f"{base}/audience/00000000-0000-0000-0000-000000000009", headers=auth(key)).status_code == 404


def test_an_unknown_query_parameter_is_refused_not_ignored(api, owner):
    client, ((a, key), _), _ = api
    ext = owner.execute("select external_id from leads where tenant_id = %s order by external_id limit 1",
                        (a.tenant_id,)).fetchone()[0]
    r = client.get(f"/v1/tenants/{a.tenant_id}/leads/{ext}/similar", headers=auth(key), params={"min_scroe": 0.9})
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "unknown_parameter" and r.json()["field"] == "min_scroe"
    assert "k, min_score" in r.json()["message"]
    r = client.get(f"/v1/tenants/{a.tenant_id}/lookalike/seed?=false", headers=auth(key))
    assert r.status_code == 400 and r.json()["code"] == "unknown_parameter"
    assert client.get("/health", params={"verbose": 1}).json()["code"] == "unknown_parameter"


def test_draft_an_audience_from_words_then_create_it(api, owner):
    """The description reader behind the API: a proposal with a reason per part (nothing written), then the
    same with create (a draft audience and its job); words it cannot place are refused unless partial; another
    tenant's key gets 403 and creates nothing."""
    client, ((a, key), (b, key_b)), _ = api
    base = f"/v1/tenants/{a.tenant_id}/lookalike/audience"
    before = owner.execute("select count(*) from lookalike_audience where tenant_id = %s", (a.tenant_id,)).fetchone()[0]
    text = "CFOs at fintech companies in Germany with more than 200 employees"
    r = client.post(f"{base}/draft", headers=auth(key), json={"description": text})
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["audience_id"] is None and d["not_understood"] == []
    fields = {f["field"]: f for f in d["rules"]["filters"]}
    assert fields["country"]["values"] == ["germany"] and fields["industry"]["values"] == ["fintech"]
    assert fields["company_size"] == {"field": "company_size", "op": "gt", "value": 200}
    assert {p["how"] for p in d["parts"]} == {"exact", "number"} and all(p["phrase"] in text for p in d["parts"])
    assert any("no text encoder" in n for n in d["notes"])  # the service runs the hashing encoder here
    assert owner.execute("select count(*) from lookalike_audience where tenant_id = %s",
                         (a.tenant_id,)).fetchone()[0] == before
    made = client.post(f"{base}/draft", headers=auth(key), json={"description": text, "create": True,
                                                                 "name": "Fintech CFOs (API draft)"})
    assert made.status_code == 201, made.text
    aid = made.json()["audience_id"]
    row = owner.execute("select name, status, rules, description from lookalike_audience where tenant_id = %s "
                        "and audience_id = %s", (a.tenant_id, aid)).fetchone()
    assert row[0] == "Fintech CFOs (API draft)" and row[1] == "draft" and row[2]["filters"] == d["rules"]["filters"]
    assert row[3] == text
    assert client.get(f"/v1/tenants/{a.tenant_id}/lookalike/jobs/{made.json()['job_id']}",
                      headers=auth(key)).json()["audience_id"] == aid
    again = client.post(f"{base}/draft", headers=auth(key), json={"description": text, "create": True,
                                                                  "name": "Fintech CFOs (API draft)"})
    assert again.status_code == 409 and again.json()["code"] == "conflict"
    vague = "fintech companies run by zorblax wizards"
    r = client.post(f"{base}/draft", headers=auth(key), json={"description": vague, "create": True})
    assert r.status_code == 400 and r.json()["code"] == "not_understood" and r.json()["field"] == "description"
    partial = client.post(f"{base}/draft", headers=auth(key), json={"description": vague, "create": True,
                                                                    "partial": True})
    assert partial.status_code == 201 and partial.json()["not_understood"]
    nothing = client.post(f"{base}/draft", headers=auth(key), json={"description": "zorblax wizards"})
    assert nothing.status_code == 400 and nothing.json()["code"] == "invalid_description"
    assert client.post(f"{base}/draft", headers=auth(key), json={"description": "  "}).status_code == 422
    assert client.post(f"{base}/draft", headers=auth(key), json={"description": text, "extra": 1}).status_code == 422
    assert client.post(f"{base}/draft", json={"description": text}).status_code == 401
    r = client.post(f"{base}/draft", headers=auth(key_b), json={"description": text, "create": True})
    assert r.status_code == 403
    assert owner.execute("select count(*) from lookalike_audience where tenant_id = %s",
                         (a.tenant_id,)).fetchone()[0] == before + 2


def test_meaning_draws_on_the_catalog_cached_between_drafts(test_url, two_tenants):
    """With the MiniLM encoder, words are matched by meaning; the tenant's catalog is encoded once and reused,
    and a draft from the cache is the same as a fresh one."""
    from lookalike_assets.db.connect import APP_ROLE
    from lookalike_assets.domain.describe import VectorCache
    from lookalike_assets.domain.encoder_choice import get_encoder
    from lookalike_assets.pipeline.describe import describe_audience, meaning_encoder

    # the torch model, pinned: the same MiniLM without the one-time int8 ONNX export (a build step of its own)
    encoder = meaning_encoder(get_encoder("minilm-fp32"))
    assert encoder is not None and meaning_encoder(get_encoder("hashing")) is None
    cache = VectorCache()
    conn = connect(test_url, role=APP_ROLE)
    try:
        t = two_tenants[0].tenant_id
        text = "chief financial officers at payments companies"
        first = describe_audience(conn, t, text, encoder, cache=cache)
        second = describe_audience(conn, t, text, encoder, cache=cache)
        fresh = describe_audience(conn, t, text, encoder)
    finally:
        conn.close()
    assert (cache.misses, cache.hits) == (1, 1)
    assert first.as_dict() == second.as_dict() == fresh.as_dict()
    assert any(p.how == "meaning" for p in first.parts)


def test_similar_returns_k_of_the_tenants_own_leads(api, owner):
    client, ((a, key), (b, _)), _ = api
    ext = owner.execute("select external_id from leads where tenant_id = %s order by external_id limit 1",
                        (a.tenant_id,)).fetchone()[0]
    r = client.get(f"/v1/tenants/{a.tenant_id}/leads/{ext}/similar", headers=auth(key), params={"k": 25})
    assert r.status_code == 200, r.text
    rows = r.json()
    assert len(rows) == 25
    ours = {str(x[0]) for x in owner.execute("select lead_id from leads where tenant_id = %s", (a.tenant_id,))}
    assert {x["lead_id"] for x in rows} <= ours
    assert [x["similarity_score"] for x in rows] == sorted((x["similarity_score"] for x in rows), reverse=True)
    assert abs(sum(rows[0]["reasons"].values()) - rows[0]["similarity_score"]) < 1e-3
    high = client.get(f"/v1/tenants/{a.tenant_id}/leads/{ext}/similar", headers=auth(key),
                      params={"k": 25, "min_score": rows[5]["similarity_score"] - 1e-6}).json()
    assert len(high) >= 6 and all(x["similarity_score"] >= rows[5]["similarity_score"] - 1e-6 for x in high)
    other = owner.execute("select external_id from leads where tenant_id = %s limit 1", (b.tenant_id,)).fetchone()[0]
    assert client.get(f"/v1/tenants/{a.tenant_id}/leads/{other}/similar", headers=auth(key)).status_code in (200, 404)
    assert client.get(f"/v1/tenants/{a.tenant_id}/leads/no-such/similar", headers=auth(key)).status_code == 404
    # by lead id as well (through the index on ids, not a cast of every row): the same neighbours
    lid = str(owner.execute("select lead_id from leads where tenant_id = %s and external_id = %s",
                            (a.tenant_id, ext)).fetchone()[0])
    by_id = client.get(f"/v1/tenants/{a.tenant_id}/leads/{lid}/similar", headers=auth(key), params={"k": 25})
    assert by_id.status_code == 200 and by_id.json() == rows
    theirs = str(owner.execute("select lead_id from leads where tenant_id = %s limit 1", (b.tenant_id,)).fetchone()[0])
    for ref in (theirs, lid.upper(), lid.replace("-", "")):  # another tenant's id; an id not in its text form
        assert client.get(f"/v1/tenants/{a.tenant_id}/leads/{ref}/similar", headers=auth(key)).status_code == 404


def test_a_large_tenant_gets_its_own_ann_index_and_similar_still_returns_k(api, owner, test_url):
    """Past the threshold the pipeline gives the tenant a partial HNSW index; searches of that tenant use it (and
    no other tenant's do), return exactly k rows, and agree with the exact search; below half the threshold it
    goes. The pipeline cannot build one for another tenant."""
    import psycopg

    from lookalike_assets.db.connect import tenant_transaction
    from lookalike_assets.pipeline.embeddings import ensure_ann_index

    client, ((a, key), (b, _)), _ = api
    pipe = connect(test_url, role=PIPELINE_ROLE)
    try:
        assert ensure_ann_index(pipe, a.tenant_id, 50) == "created"
        assert ensure_ann_index(pipe, a.tenant_id, 50) == "exists"
        assert ensure_ann_index(pipe, b.tenant_id, 10_000) == "none"
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            with tenant_transaction(pipe, a.tenant_id, PIPELINE_ROLE):
                pipe.execute("select lookalike_tenant_ann_index(%s, 1)", (b.tenant_id,))
        probe = owner.execute("select embedding from lead_embeddings where tenant_id = %s limit 1",
                              (a.tenant_id,)).fetchone()[0]
        sql = "explain select lead_id from lead_embeddings where tenant_id = %s order by embedding <=> %s limit 10"
        for tenant, used in ((a.tenant_id, True), (b.tenant_id, False)):
            with tenant_transaction(pipe, tenant, PIPELINE_ROLE):
                # at 300 rows sorting them all is cheaper; at 100k the planner picks the index by itself
                pipe.execute("set local enable_seqscan = off")
                pipe.execute("set local enable_sort = off")
                plan = "\n".join(r[0] for r in pipe.execute(sql, (tenant, probe)))
            assert ("lead_embeddings_ann_" in plan) is used, plan
        ext = owner.execute("select external_id from leads where tenant_id = %s order by external_id limit 1",
                            (a.tenant_id,)).fetchone()[0]
        rows = client.get(f"/v1/tenants/{a.tenant_id}/leads/{ext}/similar", headers=auth(key),
                          params={"k": 25}).json()
        assert len(rows) == 25
        exact = owner.execute(
            "select e.lead_id::text from lead_embeddings e join leads l using (tenant_id, lead_id) "
            "where e.tenant_id = %s and l.external_id <> %s order by (e.embedding <=> (select embedding from "
            "lead_embeddings x join leads y using (tenant_id, lead_id) where y.tenant_id = %s and y.external_id = %s))"
            " limit 25", (a.tenant_id, ext, a.tenant_id, ext)).fetchall()
        assert len({r["lead_id"] for r in rows} & {r[0] for r in exact}) >= 23
        assert ensure_ann_index(pipe, a.tenant_id, 10_000) == "dropped"
    finally:
        pipe.close()


def test_score_matches_the_pipeline_and_finds_duplicates(api, owner):
    client, ((a, key), _), _ = api
    lead = owner.execute(
        "select l.lead_id, l.external_id, l.company, l.industry, l.company_size, l.country, l.region, l.title, "
        "l.seniority, l.bio, l.property_type, l.email_opens, l.web_visits, e.embedding "
        "from leads l join lead_embeddings e using (tenant_id, lead_id) where l.tenant_id = %s "
        "order by l.external_id limit 1", (a.tenant_id,)).fetchone()
    attrs = {k: v for k, v in lead._asdict().items() if k not in ("lead_id", "embedding") and v is not None}
    r = client.post(f"/v1/tenants/{a.tenant_id}/leads/score", headers=auth(key), json={"attributes": attrs})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["duplicate_of"] == str(lead.lead_id)
    profile = owner.execute("select profile from lookalike_seed_profile where tenant_id = %s and audience_id = %s",
                            (a.tenant_id, out["audience_id"])).fetchone()[0]
    expected = float(np.dot(as_array(lead.embedding), as_array(profile)))
    assert abs(out["s_look"] - expected) < 1e-6
    assert out["decile"] in range(1, 11) and len(out["neighbors"]) == 5
    assert out["neighbors"][0]["lead_id"] == str(lead.lead_id)
    assert out["contrast"] is not None and 0 <= out["s_novel"] <= 2
    empty = client.post(f"/v1/tenants/{a.tenant_id}/leads/score", headers=auth(key), json={"attributes": {}})
    assert empty.status_code == 422 and empty.json()["field"] == "attributes"
    blank = client.post(f"/v1/tenants/{a.tenant_id}/leads/score", headers=auth(key),
                        json={"attributes": {"title": None}})
    assert blank.status_code == 400 and blank.json()["code"] == "no_features", blank.text
    # issue 33 §2: the tenant's own column names score as lookalike's do; a key naming nothing is a 400 naming it
    # (it was silently ignored, and the lead scored as if it had no such value)
    ours = {"title": lead.title, "company_size": lead.company_size, "industry": lead.industry}
    theirs = {"Job Title": lead.title, "employees": lead.company_size, "sector": lead.industry}
    a_ = client.post(f"/v1/tenants/{a.tenant_id}/leads/score", headers=auth(key), json={"attributes": ours}).json()
    b_ = client.post(f"/v1/tenants/{a.tenant_id}/leads/score", headers=auth(key), json={"attributes": theirs}).json()
    assert a_["s_look"] == b_["s_look"] and a_["rank_score"] == b_["rank_score"] and a_["decile"] == b_["decile"]
    # issue 34: the duplicate check normalizes an email as the importer does (one function, domain/identifiers)
    email, = owner.execute("select email from leads where lead_id = %s", (lead.lead_id,)).fetchone()
    if email:
        r = client.post(f"/v1/tenants/{a.tenant_id}/leads/score", headers=auth(key),
                        json={"attributes": {**ours, "email": f"  {email.upper()} "}}).json()
        assert r["duplicate_of"] == str(lead.lead_id), r
    r = client.post(f"/v1/tenants/{a.tenant_id}/leads/score", headers=auth(key),
                    json={"attributes": {**ours, "email": "not an email"}})
    assert r.status_code == 200 and r.json()["duplicate_of"] is None
    for body in ({**ours, "nickname": "x"}, {**ours, "attributes": {"shoe_size": 42}}):
        r = client.post(f"/v1/tenants/{a.tenant_id}/leads/score", headers=auth(key), json={"attributes": body})
        assert r.status_code == 400 and r.json()["code"] == "unknown_fields", r.text
        assert ("'nickname'" if "nickname" in body else "'attributes.shoe_size'") in r.json()["message"]


def test_leads_upsert_and_feedback(api, owner):
    client, ((a, key), _), _ = api
    url = f"/v1/tenants/{a.tenant_id}/leads"
    r = client.post(url, headers=auth(key), json={"leads": [
        {"external_id": "api-new-1", "title": "CFO", "industry": "Software", "email": "cfo@example.com"},
        {"external_id": "api-new-2", "title": "CTO", "industry": "Fintech", "email": "cto@example.com"}]})
    assert r.status_code == 200, r.text
    assert r.json()["inserted"] == 2
    r = client.post(url, headers=auth(key), json={"leads": [{"title": "x"}]})
    assert r.status_code == 422 and r.json()["field"] == "leads.0.external_id"
    # a dry run: what would happen, each refused lead with its reason, nothing stored
    before = owner.execute("select count(*) from leads where tenant_id = %s", (a.tenant_id,)).fetchone()[0]
    r = client.post(url + "?dry_run=true", headers=auth(key), json={"leads": [
        {"external_id": "api-dry-1", "title": "CEO", "industry": "Software"},
        {"external_id": "api-new-1", "title": "CFO", "industry": "Software", "email": "cfo@example.com"},
        {"external_id": "api-dry-1", "title": "COO", "industry": "Fintech"}]})
    assert r.status_code == 200, r.text
    dry = r.json()
    assert dry["dry_run"] and dry["columns"]["title"] == "title"
    assert [x["external_id"] for x in dry["rejected"]] == ["api-dry-1"] and "duplicate" in dry["rejected"][0]["reason"]
    assert dry["inserted"] == 1 and dry["unchanged"] + dry["updated"] == 1
    assert owner.execute("select count(*) from leads where tenant_id = %s", (a.tenant_id,)).fetchone()[0] == before
    # finding leads: by id exactly, or by words of their name, company, title or email; only the tenant's
    found = client.get(url, headers=auth(key), params={"q": "cfo@example"}).json()
    assert [x["external_id"] for x in found] == ["api-new-1"] and found[0]["title"] == "CFO"
    assert client.get(url, headers=auth(key), params={"q": "api-new-2"}).json()[0]["external_id"] == "api-new-2"
    assert client.get(url, headers=auth(key), params={"q": "_"}).json() == [] or all(
        "_" in (x["external_id"] + (x["name"] or "") + (x["company"] or "") + (x["title"] or ""))
        for x in client.get(url, headers=auth(key), params={"q": "_"}).json())
    r = client.post(url, headers=auth(key), json={"leads": [{"external_id": "api-nul", "title": "a\u0000b"}]})
    assert r.status_code == 400 and r.json()["code"] in ("invalid_value", "invalid_leads"), r.text
    cand = owner.execute("select audience_id, candidate_id from lookalike_candidate where tenant_id = %s "
                         "order by candidate_id limit 1", (a.tenant_id,)).fetchone()
    fb = f"/v1/tenants/{a.tenant_id}/lookalike/audience/{cand.audience_id}/feedback"
    body = {"candidate_id": str(cand.candidate_id), "event_type": "meeting", "event_id": "api-ev-1"}
    r = client.post(fb, headers=auth(key), json=body)
    assert r.status_code == 202, r.text
    assert r.json()["recorded"] == 1
    again = client.post(fb, headers=auth(key), json=body)
    assert again.json().get("duplicates") == 1, again.text
    missing = {**body, "candidate_id": "00000000-0000-0000-0000-000000000009"}
    assert client.post(fb, headers=auth(key), json=missing).status_code == 404


def test_keys_from_the_command_line(api, cli_env):
    """`access grant --kind api` prints a key once (only its hash is stored), `access list` shows it with when it
    was last used, `access revoke <key id>` ends it at once."""
    import re

    from conftest import cli

    client, ((a, _), _), own = api
    code, out = cli("access", "grant", "--tenant", a.slug, "--kind", "api", "--name", "CRM sync")
    assert code == 0, out
    key = re.search(r"key: (lk_\S+)", out).group(1)
    key_id = re.search(r"API key (\S+) for", out).group(1)
    assert own.execute("select count(*) from lookalike_api_key where key_hash = %s", (key,)).fetchone()[0] == 0
    assert client.get(f"/v1/tenants/{a.tenant_id}/lookalike/seed", headers=auth(key)).status_code == 200
    # issue 33 §3: the tenant's id is printed beside the key's; the path takes the tenant's slug as well; the key's
    # id, another tenant's slug or id answer 403 saying which tenant the key is for
    assert f"tenant: {a.tenant_id} (slug {a.slug})" in out
    assert client.get(f"/v1/tenants/{a.slug}/lookalike/seed", headers=auth(key)).status_code == 200
    b = api[1][1][0]
    for wrong in (key_id, b.slug, str(b.tenant_id), "no-such-tenant"):
        r = client.get(f"/v1/tenants/{wrong}/lookalike/seed", headers=auth(key))
        assert r.status_code == 403 and f"it is for tenant {a.slug!r} ({a.tenant_id})" in r.json()["message"], r.text
        assert b.slug not in r.json()["message"]
    code, out = cli("access", "list", "--tenant", a.slug)
    assert code == 0 and key_id[:8] in out and "CRM sync" in out and key not in out
    code, out = cli("access", "revoke", key_id)
    assert code == 0 and "revoked" in out
    assert client.get(f"/v1/tenants/{a.tenant_id}/lookalike/seed", headers=auth(key)).status_code == 401
    code, out = cli("access", "revoke", "00000000-0000-0000-0000-000000000009")
    assert code != 0 and "not an API key" in out


def test_export_job_runs_through_the_sensor_to_completed(api, owner, test_url, tmp_path, monkeypatch):
    """POST export makes a job; the export sensor requests one run for it (once, by its run key); the run exports
    the audience with the shared export code; the job then reads completed with the rows written."""
    import dagster as dg

    from lookalike_assets.api.main import create_app
    from lookalike_assets.defs.audiences.api_exports import api_export_job, api_exports_sensor
    from lookalike_assets.defs.audiences.resources import ExportDestinationResource
    from lookalike_assets.defs.resources import LookalikeDatabase
    from lookalike_assets.domain.encoder_choice import get_encoder

    _client, ((a, key), _), _ = api
    instance = dg.DagsterInstance.ephemeral()
    base = f"/v1/tenants/{a.tenant_id}/lookalike"
    aud = owner.execute("select audience_id, name from lookalike_audience where tenant_id = %s and size_estimate > 10 "
                        "order by name limit 1", (a.tenant_id,)).fetchone()
    owner.execute("update lookalike_audience set status = 'published' where tenant_id = %s and audience_id = %s",
                  (a.tenant_id, aud.audience_id))
    from lookalike_assets.settings import get_settings

    with TestClient(create_app(test_url, encoder=get_encoder("hashing"), instance=instance)) as client:
        r = client.post(f"{base}/audience/{aud.audience_id}/export", headers=auth(key), json={"platform": "tiktok"})
        assert r.status_code == 422 and r.json()["field"] == "platform"
        # issue 33 §13: below the platform's minimum it is refused at once, not accepted and skipped later
        r = client.post(f"{base}/audience/{aud.audience_id}/export", headers=auth(key), json={"platform": "linkedin"})
        assert r.status_code == 409 and r.json()["code"] == "too_small" and "at least 300" in r.json()["message"]
        # the deployment's minimums (LOOKALIKE_EXPORT_MIN_SIZES) are the ones the run uses
        monkeypatch.setenv("LOOKALIKE_EXPORT_MIN_SIZES", '{"google": 1}')
        get_settings.cache_clear()
        r = client.post(f"{base}/audience/{aud.audience_id}/export", headers=auth(key), json={"platform": "google"})
        assert r.status_code == 202, r.text
        job_id = r.json()["export_job_id"]
        assert client.get(f"{base}/jobs/{job_id}", headers=auth(key)).json()["status"] == "pending"

        db = LookalikeDatabase(database_url=test_url)
        requests = [rr for rr in api_exports_sensor(dg.build_sensor_context(instance=instance, resources={"db": db}))
                    if rr.tags.get("lookalike/api_job") == job_id]
        assert len(requests) == 1
        rr = requests[0]
        result = api_export_job.execute_in_process(
            run_config=rr.run_config, instance=instance, tags=rr.tags,
            resources={"db": db, "exports": ExportDestinationResource(folder=str(tmp_path), min_sizes={"google": 1})})
        assert result.success
        job = client.get(f"{base}/jobs/{job_id}", headers=auth(key)).json()
        assert job["status"] == "completed" and job["run_id"] == result.run_id, job
        assert job["kind"] == "export" and job["platform"] == "google" and job["export_status"] == "succeeded"
        assert job["exported_rows"] > 10
        assert [p.name for p in tmp_path.rglob("*.csv")] == ["google.csv"]  # only the asked-for file, no index

        owner.execute("update lookalike_audience set status = 'draft' where tenant_id = %s and audience_id = %s",
                      (a.tenant_id, aud.audience_id))
        r = client.post(f"{base}/audience/{aud.audience_id}/export", headers=auth(key), json={"platform": "meta"})
        assert r.status_code == 409 and r.json()["code"] == "not_published"
        gone = client.post(f"{base}/audience/00000000-0000-0000-0000-000000000009/export", headers=auth(key),
                           json={"platform": "meta"})
        assert gone.status_code == 404
    monkeypatch.delenv("LOOKALIKE_EXPORT_MIN_SIZES")
    get_settings.cache_clear()


def test_audience_job_follows_a_real_run_to_completed(api, test_url, tmp_path):
    """An audience created through the API: its job is pending until a run of the tenant's partition exists, and
    completed with the audience's members once that run succeeded."""
    import dagster as dg

    from lookalike_assets.api.main import create_app
    from lookalike_assets.definitions import tenant_assets
    from lookalike_assets.defs.audiences.resources import ExportDestinationResource
    from lookalike_assets.defs.leads.resources import TextEncoderResource
    from lookalike_assets.defs.partitions import TENANTS_PARTITION
    from lookalike_assets.defs.resources import LookalikeConfig, LookalikeDatabase
    from lookalike_assets.domain.encoder_choice import get_encoder

    _client, (_, (b, key)), _ = api
    instance = dg.DagsterInstance.ephemeral()
    base = f"/v1/tenants/{b.tenant_id}/lookalike"
    with TestClient(create_app(test_url, encoder=get_encoder("hashing"), instance=instance)) as client:
        r = client.post(f"{base}/audience", headers=auth(key), json={
            "name": "Polled", "seed_set": {"labels": ["won"]}, "rules": {"reach": {"max_size": 40}}})
        assert r.status_code == 201, r.text
        job_id = r.json()["job_id"]
        assert client.get(f"{base}/jobs/{job_id}", headers=auth(key)).json()["status"] == "pending"
        instance.add_dynamic_partitions(TENANTS_PARTITION, [b.slug])
        run = dg.materialize(tenant_assets, partition_key=b.slug, instance=instance, resources={
            "db": LookalikeDatabase(database_url=test_url), "encoder": TextEncoderResource(encoder="hashing"),
            "lookalike": LookalikeConfig(pool_size=100), "exports": ExportDestinationResource(folder=str(tmp_path))})
        assert run.success
        job = client.get(f"{base}/jobs/{job_id}", headers=auth(key)).json()
        assert job["status"] == "completed" and job["run_id"] == run.run_id, job
        assert 0 < job["members"] <= 40


def test_performance_from_the_marts(owner, test_url, marts_built, two_tenants):
    from lookalike_assets.api.main import create_app
    from lookalike_assets.domain.encoder_choice import get_encoder

    t = two_tenants[0]
    key = grant_api_key(owner, t.tenant_id, "performance").key
    aud = owner.execute("select audience_id from marts.mart_audience_summary where tenant_id = %s "
                        "order by members desc limit 1", (t.tenant_id,)).fetchone()
    base = f"/v1/tenants/{t.tenant_id}/lookalike/audience"
    with TestClient(create_app(test_url, encoder=get_encoder("hashing"))) as client:
        r = client.get(f"{base}/{aud.audience_id}/performance", headers=auth(key))
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["metrics"]["members"] > 0 and "tenant_base_rate" in out["metrics"]
        buckets = out["by_similarity_bucket"]
        assert [b["decile"] for b in buckets] == sorted((b["decile"] for b in buckets), reverse=True)
        assert sum(b["members"] for b in buckets) == out["metrics"]["members"]
        # issue 33 §13: numbers are JSON numbers, never strings ("0.100000"); the holdout the README documents
        assert "holdout" in out and isinstance(out["holdout"], dict)
        for row in (out["metrics"], *buckets):
            assert not any(isinstance(v, str) and v.replace(".", "", 1).lstrip("-").isdigit() for v in row.values()), row
        assert isinstance(out["metrics"]["tenant_base_rate"], (float, int, type(None)))
        fresh = client.post(f"/v1/tenants/{t.tenant_id}/lookalike/audience", headers=auth(key),
                            json={"name": "Not in the marts yet"}).json()["audience_id"]
        r = client.get(f"{base}/{fresh}/performance", headers=auth(key))
        assert r.status_code == 409 and r.json()["code"] == "not_ready"
        # issue 33 §5: the command it names is the one that exists
        assert "`lookalike marts`" in r.json()["message"] and "run marts" not in r.json()["message"]
        assert client.get(f"{base}/00000000-0000-0000-0000-000000000009/performance",
                          headers=auth(key)).status_code == 404


# float4 scores whose shortest decimal (what a driver parses a `real` into) lies above, resp. below, the exact
# value: a cursor that compares one with the other repeats or skips the row at a page boundary
ROUNDS_UP = (2.383283, -2.968408, 1.7824166, -1.3294463, -0.32954216, 0.32098413, -0.98779404)
ROUNDS_DOWN = (0.7505728, 1.6541141, -1.6487569, -1.1990023, 2.2413206, -0.19239028, -1.1818055)


def test_member_pages_meet_exactly_on_float4_scores_and_a_refresh_between_pages_is_a_409(api, test_url):
    from lookalike_assets.db.connect import tenant_transaction
    from lookalike_assets.pipeline.memberships import refresh_memberships

    client, _, own = api
    (t,) = built_tenants(test_url, [(2, "api-pages")], 200, pool_size=60)
    key = grant_api_key(own, t.tenant_id, "pages").key
    pipe = connect(test_url, role=PIPELINE_ROLE)
    scores = [*ROUNDS_UP, *ROUNDS_DOWN] * 3  # ties too: the candidate id breaks them
    with tenant_transaction(pipe, t.tenant_id, PIPELINE_ROLE):
        aid, n = pipe.execute("select audience_id, count(*) from lookalike_audience_member group by 1 "
                              "order by 2 desc limit 1").fetchone()
        assert n >= 20
        ids = [r[0] for r in pipe.execute("select candidate_id from lookalike_audience_member where audience_id = %s "
                                          "order by candidate_id", (aid,)).fetchall()]
        for i, cid in enumerate(ids):
            pipe.execute("update lookalike_candidate set rank_score = %s::real where candidate_id = %s",
                         (str(scores[i % len(scores)]), cid))
    base = f"/v1/tenants/{t.tenant_id}/lookalike/audience/{aid}"
    for limit in (1, 2, 5):
        seen, cursor = [], None
        for _ in range(n + 2):  # bounded: a cursor that does not move on must fail the test, not hang it
            page = client.get(base, headers=auth(key), params={"limit": limit, **({"cursor": cursor} if cursor else {})})
            assert page.status_code == 200, page.text
            body = page.json()
            seen += [(m["rank_score"], m["candidate_id"]) for m in body["members"]]
            cursor = body["next_cursor"]
            if not cursor:
                break
        assert len(seen) == len(set(seen)) == n, limit  # no member twice, none left out
        assert [s for s, _ in seen] == sorted((s for s, _ in seen), reverse=True)
    # the audience rebuilt between two pages: a clear 409, not a page of another audience's order
    first = client.get(base, headers=auth(key), params={"limit": 5}).json()
    refresh_memberships(pipe, t.tenant_id)
    r = client.get(base, headers=auth(key), params={"limit": 5, "cursor": first["next_cursor"]})
    assert r.status_code == 409 and r.json()["code"] == "audience_changed", r.text
    assert "start again" in r.json()["message"]
    pipe.close()


def test_audiences_listed_edited_estimated_and_deleted_through_the_same_code_as_the_studio(api, owner):
    client, ((a, key), (b, key_b)), _ = api
    base = f"/v1/tenants/{a.tenant_id}/lookalike"
    listed = client.get(f"{base}/audience", headers=auth(key))
    assert listed.status_code == 200, listed.text
    names = {x["name"] for x in listed.json()}
    own = {r[0] for r in owner.execute("select name from lookalike_audience where tenant_id = %s",
                                       (a.tenant_id,)).fetchall()}
    assert names == own and all(x["seeds"] for x in listed.json() if x["status"] == "published")
    assert client.get(f"{base}/audience", headers=auth(key), params={"status": "nope"}).status_code == 422
    est = client.post(f"{base}/audience/estimate", headers=auth(key), json={"rules": {
        "filters": [{"field": "country", "op": "in", "values": ["germany"]}], "reach": {"max_percent": 5}}})
    assert est.status_code == 200, est.text
    e = est.json()
    assert e["eligible"] == 300 and 0 < e["matching"] < 300 and e["size"] <= 15 and e["sample"] == 300
    bad = client.post(f"{base}/audience/estimate", headers=auth(key), json={"rules": {"filters": [{"field": "salary"}]}})
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_audience"
    made = client.post(f"{base}/audience", headers=auth(key), json={"name": "To edit"}).json()
    aid = made["audience_id"]
    r = client.patch(f"{base}/audience/{aid}", headers=auth(key), json={"name": "Edited", "rules": {"reach": {"max_size": 10}}})
    assert r.status_code == 200 and r.json()["job_id"], r.text
    assert owner.execute("select name, rules from lookalike_audience where audience_id = %s", (aid,)).fetchone() == \
        ("Edited", {"reach": {"max_size": 10}})
    assert client.patch(f"{base}/audience/{aid}", headers=auth(key), json={"rules": {"nope": 1}}).status_code == 400
    # another tenant's key on this audience: refused before anything is read; its own path with A's id: 404
    other = f"/v1/tenants/{b.tenant_id}/lookalike/audience/{aid}"
    assert client.patch(other, headers=auth(key_b), json={"name": "x"}).status_code == 404
    assert client.delete(other, headers=auth(key_b)).status_code == 404
    assert client.delete(f"{base}/audience/{aid}", headers=auth(key_b)).status_code == 403
    assert client.delete(f"{base}/audience/{aid}", headers=auth(key)).status_code == 204
    assert client.get(f"{base}/audience/{aid}", headers=auth(key)).status_code == 404


def test_a_batch_is_whole_bad_bytes_are_json_400s_and_a_body_has_a_size_limit(api, owner):
    client, ((a, key), _), _ = api
    url = f"/v1/tenants/{a.tenant_id}/leads"
    before = owner.execute("select count(*) from leads where tenant_id = %s", (a.tenant_id,)).fetchone()[0]
    r = client.post(url, headers=auth(key), json={"leads": [
        {"external_id": "batch-good", "title": "CFO"}, {"external_id": "batch-bad", "company_size": -5}]})
    assert r.status_code == 400 and r.json()["code"] == "invalid_leads", r.text
    assert "lead 2" in r.json()["message"] and "nothing was stored" in r.json()["message"]
    assert owner.execute("select count(*) from leads where tenant_id = %s", (a.tenant_id,)).fetchone()[0] == before
    # NUL in a path and in a value: JSON 400, never a plain-text 500
    r = client.get(f"/v1/tenants/{a.tenant_id}/leads/a%00b/similar", headers=auth(key))
    assert r.status_code == 400 and r.headers["content-type"].startswith("application/json"), r.text
    assert r.json()["code"] == "invalid_value"
    r = client.post(f"/v1/tenants/{a.tenant_id}/leads/score", headers=auth(key),
                    json={"attributes": {"title": "CF\u0000O", "external_id": "x\u0000y", "email": "a\u0000@b.com"}})
    assert r.status_code == 400 and r.json()["code"] in ("invalid_value", "invalid_lead"), r.text
    # a body over the limit: 413 before it is read whole
    big = b'{"leads": [' + b'{"external_id": "x", "bio": "' + b"y" * (20 * 1024 * 1024) + b'"}]}'
    r = client.post(url, headers={**auth(key), "content-type": "application/json"}, content=big)
    assert r.status_code == 413 and r.json()["code"] == "too_large", r.text


def test_with_the_database_down_the_api_answers_json_503_without_the_drivers_words(test_url):
    from fastapi.testclient import TestClient
    from psycopg.conninfo import make_conninfo

    from lookalike_assets.api.main import create_app
    from lookalike_assets.domain.encoder_choice import get_encoder

    down = make_conninfo(test_url, host="127.0.0.1", port="9", connect_timeout="2")  # nothing listens there
    with TestClient(create_app(down, encoder=get_encoder("hashing"), pool_timeout=2, startup_wait=1),
                    raise_server_exceptions=False) as client:
        h = client.get("/health")
        assert h.status_code == 503 and h.json()["code"] == "database_unreachable"
        assert "127.0.0.1" not in h.text and "port" not in h.text.lower()  # no driver message
        r = client.get("/v1/tenants/00000000-0000-0000-0000-000000000001/lookalike/seed",
                       headers=auth("lk_" + "x" * 43))
        assert r.status_code == 503 and r.json()["code"] == "unavailable", r.text


def test_both_ways_of_sending_the_key_are_documented_and_work(api):
    client, ((a, key), _), _ = api
    schemes = client.get("/openapi.json").json()["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} == {"http", "apiKey"}
    assert any(s.get("name") == "X-API-Key" for s in schemes.values())
    url = f"/v1/tenants/{a.tenant_id}/lookalike/seed"
    assert client.get(url, headers={"X-API-Key": key}).status_code == 200
    assert client.get(url, headers=auth(key)).status_code == 200
    assert client.get(url, headers={"Authorization": f"Basic {key}"}).status_code == 401


def test_jobs_polled_from_many_threads_at_once(api, test_url, tmp_path, monkeypatch, caplog):
    """The service's Dagster instance (SQLite storage by default) is read from the API's worker threads: each
    thread has its own, so no SQLite object crosses a thread ("created in a thread can only be used in that
    same thread")."""
    import logging
    from concurrent.futures import ThreadPoolExecutor

    import httpx
    from conftest import served

    from lookalike_assets.api.main import create_app
    from lookalike_assets.domain.encoder_choice import get_encoder

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    _client, ((a, key), _), _ = api
    with served(create_app(test_url, encoder=get_encoder("hashing"))) as url:
        base = f"{url}/v1/tenants/{a.tenant_id}/lookalike"
        with httpx.Client(headers=auth(key), timeout=60) as c:
            job = c.post(f"{base}/audience", json={"name": "Polled from threads"}).json()["job_id"]

            def poll(_):
                return c.get(f"{base}/jobs/{job}").status_code

            with caplog.at_level(logging.ERROR), ThreadPoolExecutor(16) as pool:
                codes = list(pool.map(poll, range(64)))
    assert codes == [200] * 64
    assert not [r for r in caplog.records if "thread" in r.getMessage().lower() and "sqlite" in r.getMessage().lower()]


def test_another_tenants_seed_ids_are_reported_and_never_stored(api, owner):
    client, ((a, key), (b, _)), _ = api
    own = str(owner.execute("select seed_id from lookalike_seed where tenant_id = %s and deleted_at is null "
                            "order by seed_id limit 1", (a.tenant_id,)).fetchone()[0])
    foreign = str(owner.execute("select seed_id from lookalike_seed where tenant_id = %s order by seed_id limit 1",
                                (b.tenant_id,)).fetchone()[0])
    base = f"/v1/tenants/{a.tenant_id}/lookalike/audience"
    r = client.post(base, headers=auth(key), json={"name": "Mixed seeds", "seed_ids": [own, foreign]})
    assert r.status_code == 201 and r.json()["ignored_seed_ids"] == [foreign], r.text
    stored = owner.execute("select seed_set from lookalike_audience where audience_id = %s",
                           (r.json()["audience_id"],)).fetchone()[0]
    assert stored == {"seed_ids": [own]}
    r = client.post(base, headers=auth(key), json={"name": "Only foreign", "seed_ids": [foreign]})
    assert r.status_code == 400 and "none of the 1 seed id(s)" in r.json()["message"]
    assert owner.execute("select count(*) from lookalike_audience where name = 'Only foreign'").fetchone()[0] == 0


def test_destinations_through_the_api_never_show_their_credentials(api, owner):
    client, ((a, key), (b, key_b)), _ = api
    url = f"/v1/tenants/{a.tenant_id}/destinations"
    body = {"name": "Hook", "platform": "webhook", "options": {"url": "https://hooks.example.com/in"},
            "credentials": {"signing_secret": "whsec-api-secret-0123456789"}}
    r = client.post(url, headers=auth(key), json=body)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["name"] == "Hook" and made["status"] == "active" and "whsec" not in r.text
    assert client.post(url, headers=auth(key), json=body).status_code == 409
    bad = client.post(url, headers=auth(key), json={**body, "name": "G", "platform": "google"})
    assert bad.status_code == 400 and "unknown google option(s): url" in bad.json()["message"]
    missing = client.post(url, headers=auth(key), json={**body, "name": "M", "credentials": {}})
    assert missing.status_code == 400 and "signing_secret" in missing.json()["message"]
    listed = client.get(url, headers=auth(key))
    assert [d["name"] for d in listed.json()] == ["Hook"] and "whsec" not in listed.text
    did = made["destination_id"]
    r = client.patch(f"{url}/{did}", headers=auth(key), json={"name": "Hook 2",
                                                               "credentials": {"signing_secret": "rotated-secret"}})
    assert r.status_code == 200 and r.json()["name"] == "Hook 2" and "rotated" not in r.text
    # another tenant's key, or another tenant's destination id under one's own tenant: nothing
    other = f"/v1/tenants/{b.tenant_id}/destinations"
    assert client.patch(f"{other}/{did}", headers=auth(key_b), json={"name": "stolen"}).status_code == 404
    assert client.delete(f"{other}/{did}", headers=auth(key_b)).status_code == 404
    assert client.get(other, headers=auth(key_b)).json() == []
    assert client.delete(f"{url}/{did}", headers=auth(key)).status_code == 204
    assert client.get(url, headers=auth(key)).json() == []
