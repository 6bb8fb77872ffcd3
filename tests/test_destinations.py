"""Destinations: audiences synced to the ad platforms through their documented APIs, here local stand-ins of them
(tests/standins.py: paths, Bearer authentication, batch limits, error bodies, throttling). A Meta destination
through `lookalike materialize`, adds and removes (suppression), a sync killed between two batches and resumed,
throttling retried, a failing destination paused, a signed webhook, sealed credentials that no log, metadata,
Dagster storage or tenant login ever shows."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from conftest import build_tenant, cli, served, tenant_profile
from psycopg.types.json import Jsonb
from standins import meta_standin, webhook_standin

from lookalike_assets.db import admin as db_admin
from lookalike_assets.db.connect import APP_ROLE, PIPELINE_ROLE, connect
from lookalike_assets.pipeline.demo import load_tenant

TOKEN = "EAAGstandinTOKEN" + "q7" * 20
LOOKALIKE = str(Path(sys.executable).parent / "lookalike")


def sha(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


@pytest.fixture(scope="module")
def meta():
    app, state = meta_standin(TOKEN)
    with served(app) as url:
        yield url, state


@pytest.fixture
def token_file(tmp_path_factory):
    f = tmp_path_factory.mktemp("creds") / "meta-token"
    f.write_text(TOKEN + "\n")
    return f


def arm_emails(owner, tenant_id, audience_id, arm: str) -> set[str]:
    return {r[0] for r in owner.execute(
        "select l.email from lookalike_audience_member m join lookalike_candidate c using (tenant_id, candidate_id) "
        "join leads l on l.tenant_id = c.tenant_id and l.lead_id = c.lead_id "
        "where m.tenant_id = %s and m.audience_id = %s and m.arm = %s and l.email is not null",
        (tenant_id, audience_id, arm))}


def name_it(owner, tenant_id, destination: str, holdout: float = 0) -> tuple:
    """The tenant's first audience (by name), published and naming ``destination``."""
    aid, name = owner.execute("select audience_id, name from lookalike_audience where tenant_id = %s order by name "
                              "limit 1", (tenant_id,)).fetchone()
    owner.execute("update lookalike_audience set status = 'published', rules = rules || %s where audience_id = %s",
                  (Jsonb({"destinations": [{"destination": destination}], "holdout": {"percent": holdout}}), aid))
    return aid, name


def test_a_meta_destination_receives_the_audience_and_loses_who_was_suppressed(owner, cli_env, meta, token_file,
                                                                               new_slug):
    url, state = meta
    t = load_tenant(owner, tenant_profile(0, new_slug("dest")), 300, pool_size=120)
    code, out = cli("destinations", "add", "Meta main", "--tenant", t.slug, "--platform", "meta",
                    "--ad-account", "act_1001", "--token-file", str(token_file), "--api-base-url", url)
    assert code == 0, out
    code, out = cli("destinations", "test", "Meta main", "--tenant", t.slug)
    assert code == 0 and "reached ad account act_1001 (Stand-in Ads)" in out, out
    aid, name = name_it(owner, t.tenant_id, "Meta main", holdout=20)
    before = len(state.audiences)
    code, out = cli("materialize", "--tenant", t.slug)
    assert code == 0, out
    assert len(state.audiences) == before + 1
    platform_id = owner.execute("select external_id from lookalike_destination_audience where audience_id = %s",
                                (aid,)).fetchone()[0]
    assert state.audiences[platform_id]["name"] == name
    treatment, control = (arm_emails(owner, t.tenant_id, aid, arm) for arm in ("treatment", "control"))
    assert treatment and control  # the holdout put some members in the control arm
    assert state.members(platform_id) == {sha(e) for e in treatment}  # every treatment member, EMAIL_SHA256
    assert not state.members(platform_id) & {sha(e) for e in control}  # no control member
    everyone = {sha(r[0]) for r in owner.execute("select email from leads where tenant_id = %s and email is not null",
                                                 (t.tenant_id,))}
    assert state.members(platform_id) <= everyone
    # one member's email suppressed, the tenant refreshed: that member is removed with DELETE …/users
    gone = sorted(treatment)[0]
    code, out = cli("suppression", "add", "--tenant", t.slug, "--email", gone)
    assert code == 0, out
    deletes = sum(1 for m, p, _ in state.calls if m == "DELETE" and p == f"/{platform_id}/users")
    code, out = cli("materialize", "--tenant", t.slug)
    assert code == 0, out
    assert sum(1 for m, p, _ in state.calls if m == "DELETE" and p == f"/{platform_id}/users") == deletes + 1
    assert sha(gone) not in state.members(platform_id)
    # what was sent and what the platform said, per sync
    code, out = cli("destinations", "list", "--tenant", t.slug)
    assert code == 0 and "Meta main" in out and "succeeded" in out and TOKEN not in out
    syncs = owner.execute("select status, added, removed, received, invalid from lookalike_destination_sync "
                          "where audience_id = %s order by started_at", (aid,)).fetchall()
    assert syncs[0][:2] == ("succeeded", len(treatment)) and syncs[0][3] == len(treatment) and syncs[0][4] == 0
    # the suppressed member removed (and whoever the cap let in instead added): the platform holds the audience
    assert syncs[-1][0] == "succeeded" and syncs[-1][2] == 1
    assert state.members(platform_id) == {sha(e) for e in arm_emails(owner, t.tenant_id, aid, "treatment")}
    # the token is in no log, metadata or storage of the runs, and only ever travelled as a Bearer header
    assert all(a == f"Bearer {TOKEN}" for a in state.authorizations)
    for root in (Path(os.environ["LOOKALIKE_HOME"]), Path(os.environ["DAGSTER_HOME"])):
        for f in root.rglob("*"):
            if f.is_file():
                assert TOKEN.encode() not in f.read_bytes(), f
    logs = owner.execute("select string_agg(coalesce(error, '') || report::text, ' ') from lookalike_destination_sync")
    assert TOKEN not in (logs.fetchone()[0] or "")


def test_a_sync_killed_between_two_batches_resumes_without_repeating_or_forgetting(owner, test_url, meta,
                                                                                    new_slug, tmp_path):
    from lookalike_assets.pipeline.admin import add_suppression, delete_leads
    from lookalike_assets.pipeline.destinations import add_destination
    from lookalike_assets.pipeline.memberships import refresh_memberships
    from lookalike_assets.settings import get_settings

    url, state = meta
    t = load_tenant(owner, tenant_profile(1, new_slug("resume")), 300, pool_size=120)
    pipe = connect(test_url, role=PIPELINE_ROLE)
    build_tenant(pipe, t.tenant_id, 120)
    app = connect(test_url, role=APP_ROLE)
    add_destination(app, t.tenant_id, "Meta resume", "meta", {"ad_account": "act_1001", "api_base_url": url},
                    {"access_token": TOKEN}, get_settings().secret_value())
    aid, _ = name_it(owner, t.tenant_id, "Meta resume")
    refresh_memberships(pipe, t.tenant_id)
    treatment = arm_emails(owner, t.tenant_id, aid, "treatment")
    assert len(treatment) > 20
    env = {**os.environ, "LOOKALIKE_DATABASE_URL": test_url, "LOOKALIKE_HOME": str(tmp_path / "home")}
    sync = [LOOKALIKE, "destinations", "sync", "Meta resume", "--tenant", t.slug, "--batch-size", "10"]
    killed = subprocess.run(sync, env={**env, "LOOKALIKE_FAULT": "destinations:after-first-batch"},
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stdout + killed.stderr
    platform_id = owner.execute("select external_id from lookalike_destination_audience where audience_id = %s",
                                (aid,)).fetchone()[0]
    assert len(state.members(platform_id)) == 10  # one batch sent before the kill
    done = subprocess.run(sync, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    posted = sum(n for m, p, n in state.calls if m == "POST" and p == f"/{platform_id}/users")
    assert posted == len(treatment)  # nobody sent twice
    assert state.members(platform_id) == {sha(e) for e in treatment}
    # four leave: three suppressed, one deleted (its row gone from the tenant); killed after the first remove batch
    leaving = sorted(treatment)[:4]
    refs = [r[0] for r in owner.execute("select external_id from leads where tenant_id = %s and email = any(%s) "
                                        "order by email", (t.tenant_id, leaving))]
    add_suppression(app, t.tenant_id, leads=refs[:3], reason="opt-out")
    delete_leads(app, t.tenant_id, refs[3:])
    refresh_memberships(pipe, t.tenant_id)
    small = [*sync[:-1], "2"]
    killed = subprocess.run(small, env={**env, "LOOKALIKE_FAULT": "destinations:after-first-batch"},
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9
    done = subprocess.run(small, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    removed = sum(n for m, p, n in state.calls if m == "DELETE" and p == f"/{platform_id}/users")
    assert removed == 4  # each removed once, the deleted lead's too
    assert not state.members(platform_id) & {sha(e) for e in leaving}
    app.close()
    pipe.close()


def test_throttling_is_retried_and_a_destination_that_keeps_failing_is_paused(owner, test_url, meta, new_slug):
    from lookalike_assets.pipeline.destinations import add_destination, sync_tenant, update_destination
    from lookalike_assets.settings import get_settings

    url, state = meta
    secret = get_settings().secret_value()
    t = load_tenant(owner, tenant_profile(0, new_slug("throttle")), 200, pool_size=80)
    pipe = connect(test_url, role=PIPELINE_ROLE)
    build_tenant(pipe, t.tenant_id, 80)
    app = connect(test_url, role=APP_ROLE)
    add_destination(app, t.tenant_id, "Meta busy", "meta", {"ad_account": "act_1001", "api_base_url": url},
                    {"access_token": TOKEN}, secret)
    name_it(owner, t.tenant_id, "Meta busy")
    throttled = {"error": {"message": "There have been too many calls to this ad-account", "code": 80003,
                           "type": "OAuthException"}}
    state.fail_next = [(429, {"error": {"message": "Application request limit reached", "code": 4}},
                        {"Retry-After": "7"}), (400, throttled, {})]
    slept: list[float] = []
    res = sync_tenant(pipe, t.tenant_id, secret, sleep=slept.append, attempts=4, backoff=1.0)
    assert [r.status for r in res] == ["succeeded"] and res[0].added > 0
    assert slept == [7.0, 2.0]  # the platform's Retry-After, then the backoff (1 s doubled)
    # a refusal that is not transient is not retried; three failed syncs in a row pause the destination
    update_destination(app, t.tenant_id, "Meta busy", secret, credentials={"access_token": "revoked-token"})
    owner.execute("delete from lookalike_destination_member where tenant_id = %s", (t.tenant_id,))
    for _ in range(3):
        res = sync_tenant(pipe, t.tenant_id, secret, sleep=slept.append, attempts=4, pause_after=3)
        assert res[0].status == "failed" and "Invalid OAuth access token" in res[0].error
    assert slept == [7.0, 2.0]
    assert res[0].paused
    status, reason = owner.execute("select status, paused_reason from lookalike_destination where tenant_id = %s",
                                   (t.tenant_id,)).fetchone()
    assert status == "paused" and "code 190" in reason
    res = sync_tenant(pipe, t.tenant_id, secret, sleep=slept.append)
    assert res[0].status == "skipped" and "paused" in res[0].error
    update_destination(app, t.tenant_id, "Meta busy", secret, credentials={"access_token": TOKEN}, resume=True)
    res = sync_tenant(pipe, t.tenant_id, secret, sleep=slept.append)
    assert res[0].status == "succeeded" and res[0].added > 0
    app.close()
    pipe.close()


def test_a_webhook_destination_gets_signed_batches(owner, test_url, new_slug, tmp_path):
    from lookalike_assets.pipeline.destinations import add_destination, sync_tenant, test_destination
    from lookalike_assets.settings import get_settings

    secret = get_settings().secret_value()
    hook_app, hook = webhook_standin("whsec-standin-1234567890")
    t = load_tenant(owner, tenant_profile(1, new_slug("hook")), 150, pool_size=60)
    pipe = connect(test_url, role=PIPELINE_ROLE)
    build_tenant(pipe, t.tenant_id, 60)
    app = connect(test_url, role=APP_ROLE)
    with served(hook_app) as url:
        add_destination(app, t.tenant_id, "CRM hook", "webhook", {"url": url + "/hook"},
                        {"signing_secret": "whsec-standin-1234567890"}, secret)
        assert test_destination(pipe, t.tenant_id, "CRM hook", secret).startswith("webhook ")
        aid, name = name_it(owner, t.tenant_id, "CRM hook")
        res = sync_tenant(pipe, t.tenant_id, secret, batch_size=25)
        assert res[0].status == "succeeded" and hook.refused == 0
        adds = [b for b in hook.batches if b["type"] == "add"]
        assert all(len(b["members"]) <= 25 for b in adds) and sum(len(b["members"]) for b in adds) == res[0].added
        assert all(set(m) == {"external_id", "email_sha256"} for b in adds for m in b["members"])
        # a wrong secret is refused by the receiver, and the sync says so
        add_destination(app, t.tenant_id, "Bad hook", "webhook", {"url": url + "/hook"}, {"signing_secret": "nope"},
                        secret)
        owner.execute("update lookalike_audience set rules = rules || %s where audience_id = %s",
                      (Jsonb({"destinations": [{"destination": "Bad hook"}]}), aid))
        res = sync_tenant(pipe, t.tenant_id, secret)
        assert res[0].status == "failed" and "401" in res[0].error and hook.refused >= 1
    app.close()
    pipe.close()


def test_credentials_are_sealed_and_no_tenant_login_reads_them(owner, test_url, new_slug):
    from lookalike_assets.db.admin import AdminError
    from lookalike_assets.domain.sealing import SealError, unseal
    from lookalike_assets.pipeline.destinations import add_destination, list_destinations
    from lookalike_assets.settings import get_settings

    secret = get_settings().secret_value()
    a = load_tenant(owner, tenant_profile(0, new_slug("seal")), 30, pool_size=10)
    b = load_tenant(owner, tenant_profile(1, new_slug("seal")), 30, pool_size=10)
    app = connect(test_url, role=APP_ROLE)
    did = add_destination(app, a.tenant_id, "Meta sealed", "meta", {"ad_account": "act_1001"},
                          {"access_token": TOKEN}, secret)
    sealed = owner.execute("select sealed from lookalike_destination where destination_id = %s", (did,)).fetchone()[0]
    assert TOKEN.encode() not in bytes(sealed)
    assert unseal(secret, f"{a.tenant_id}/{did}", sealed)["access_token"] == TOKEN
    with pytest.raises(SealError):  # copied onto another destination, it does not open
        unseal(secret, f"{b.tenant_id}/{did}", sealed)
    assert all("sealed" not in d and TOKEN not in str(d) for d in list_destinations(app, a.tenant_id))
    # the application's own login cannot read the column; a tenant's bound login neither, nor another tenant's rows
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        with app.transaction():
            app.execute("set local role lookalike_app")
            app.execute("select sealed from lookalike_destination")
    login = db_admin.grant_access(owner, a.tenant_id, "app", "probe")
    other = db_admin.grant_access(owner, b.tenant_id, "app", "probe")
    try:
        with psycopg.connect(login.conninfo(test_url), autocommit=True) as c:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                c.execute("select sealed from lookalike_destination")
            assert c.execute("select name from lookalike_destination").fetchall() == [("Meta sealed",)]
        with psycopg.connect(other.conninfo(test_url), autocommit=True) as c:
            assert c.execute("select count(*) from lookalike_destination").fetchone()[0] == 0
            assert c.execute("update lookalike_destination set name = 'x' where destination_id = %s",
                             (did,)).rowcount == 0
    finally:
        db_admin.revoke_access(owner, login.role)
        db_admin.revoke_access(owner, other.role)
    # what is missing is said, by name
    with pytest.raises(AdminError, match="needs: developer_token, client_id, client_secret, refresh_token"):
        add_destination(app, a.tenant_id, "Google", "google", {"customer_id": "123-456-7890"}, {}, secret)
    with pytest.raises(AdminError, match="exists already"):
        add_destination(app, a.tenant_id, "Meta sealed", "meta", {"ad_account": "act_1"}, {"access_token": "t"},
                        secret)
    app.close()


def test_an_audience_naming_an_unknown_destination_fails_its_sync_in_words(owner, test_url, new_slug):
    from lookalike_assets.pipeline.destinations import sync_tenant
    from lookalike_assets.settings import get_settings

    t = load_tenant(owner, tenant_profile(0, new_slug("nodest")), 60, pool_size=20)
    name_it(owner, t.tenant_id, "Nowhere")
    pipe = connect(test_url, role=PIPELINE_ROLE)
    res = sync_tenant(pipe, t.tenant_id, get_settings().secret_value())
    assert res[0].status == "failed" and "no destination named 'Nowhere'" in res[0].error
    pipe.close()




def test_the_studio_offers_the_destinations_and_shows_what_was_sent(owner, test_url, meta, new_slug):
    import re

    from fastapi.testclient import TestClient

    from lookalike_assets.api.main import create_app
    from lookalike_assets.db.admin import grant_studio_user
    from lookalike_assets.domain.encoder_choice import get_encoder
    from lookalike_assets.pipeline.destinations import add_destination, sync_tenant
    from lookalike_assets.settings import get_settings

    url, _state = meta
    secret = get_settings().secret_value()
    t = load_tenant(owner, tenant_profile(1, new_slug("studio-dest")), 150, pool_size=60)
    pipe = connect(test_url, role=PIPELINE_ROLE)
    build_tenant(pipe, t.tenant_id, 60)
    app = connect(test_url, role=APP_ROLE)
    add_destination(app, t.tenant_id, "Meta studio", "meta", {"ad_account": "act_1001", "api_base_url": url},
                    {"access_token": TOKEN}, secret)
    aid, name = name_it(owner, t.tenant_id, "Meta studio")
    assert sync_tenant(pipe, t.tenant_id, secret)[0].status == "succeeded"
    person = grant_studio_user(owner, t.tenant_id, "dest@example.com", "editor")
    with TestClient(create_app(test_url, encoder=get_encoder("hashing"))) as client:
        client.get(person.link)
        page = client.get(f"/studio/audiences/{aid}").text
        assert "Sent to the ad platforms" in page and "Meta studio" in page and TOKEN not in page
        form = client.get(f"/studio/audiences/{aid}/edit").text
        assert "Meta studio: synced to Meta" in form
        assert re.search(r'value="dest:Meta studio"\s+checked', form)
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', form).group(1)
        rules = re.search(r'name="rules_json" value="([^"]*)"', form).group(1).replace("&#34;", '"')
        r = client.post(f"/studio/audiences/{aid}/edit", data={
            "csrf": csrf, "action": "save", "name": name, "rules_json": rules, "drafted": "true", "capped": "true",
            "reach_percent": "5", "exclude_seeds": "true", "destinations": ["dest:Meta studio", "crm"]},
            follow_redirects=False)
        assert r.status_code == 303, r.text
    saved = owner.execute("select rules from lookalike_audience where audience_id = %s", (aid,)).fetchone()[0]
    assert saved["destinations"] == [{"destination": "Meta studio"}, "crm"]
    app.close()
    pipe.close()


def test_a_linkedin_destination_streams_adds_and_removes_to_a_dmp_segment(owner, test_url, new_slug):
    from standins import linkedin_standin

    from lookalike_assets.pipeline.admin import add_suppression
    from lookalike_assets.pipeline.destinations import add_destination, sync_tenant, test_destination
    from lookalike_assets.pipeline.memberships import refresh_memberships
    from lookalike_assets.settings import get_settings

    secret = get_settings().secret_value()
    li_app, li = linkedin_standin("li-standin-token-0123456789")
    t = load_tenant(owner, tenant_profile(0, new_slug("linkedin")), 200, pool_size=80)
    pipe = connect(test_url, role=PIPELINE_ROLE)
    build_tenant(pipe, t.tenant_id, 80)
    app = connect(test_url, role=APP_ROLE)
    with served(li_app) as url:
        add_destination(app, t.tenant_id, "LinkedIn main", "linkedin",
                        {"ad_account": "urn:li:sponsoredAccount:512345678", "api_base_url": url + "/rest"},
                        {"access_token": "li-standin-token-0123456789"}, secret)
        assert test_destination(pipe, t.tenant_id, "LinkedIn main", secret) == \
            "ad account 512345678 (Stand-in Campaigns)"
        aid, _ = name_it(owner, t.tenant_id, "LinkedIn main")
        refresh_memberships(pipe, t.tenant_id)
        li.fail_next = [(429, {"status": 429, "message": "Too many requests"}, {"Retry-After": "3"})]
        slept: list[float] = []
        res = sync_tenant(pipe, t.tenant_id, secret, sleep=slept.append, batch_size=40)
        assert res[0].status == "succeeded" and slept == [3.0], res
        segment = res[0].external_id
        treatment = arm_emails(owner, t.tenant_id, aid, "treatment")
        assert li.members(segment) == {sha(e) for e in treatment}
        assert all(n <= 40 for m, p, n in li.calls if m == "BATCH_CREATE")
        gone = sorted(treatment)[0]
        add_suppression(app, t.tenant_id, emails=[gone], reason="opt-out")
        refresh_memberships(pipe, t.tenant_id)
        res = sync_tenant(pipe, t.tenant_id, secret)
        assert res[0].status == "succeeded" and res[0].removed == 1 and sha(gone) not in li.members(segment)
    app.close()
    pipe.close()


def test_an_s3_destination_gets_one_object_per_batch_in_order(owner, test_url, new_slug):
    import boto3
    from moto.server import ThreadedMotoServer

    from lookalike_assets.pipeline.admin import add_suppression
    from lookalike_assets.pipeline.destinations import add_destination, sync_tenant, test_destination
    from lookalike_assets.pipeline.memberships import refresh_memberships
    from lookalike_assets.settings import get_settings

    secret = get_settings().secret_value()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="AKIASTANDIN",
                          aws_secret_access_key="standin-secret-key")
        s3.create_bucket(Bucket="audiences")
        t = load_tenant(owner, tenant_profile(1, new_slug("s3")), 150, pool_size=60)
        pipe = connect(test_url, role=PIPELINE_ROLE)
        build_tenant(pipe, t.tenant_id, 60)
        app = connect(test_url, role=APP_ROLE)
        add_destination(app, t.tenant_id, "Warehouse", "s3", {"bucket": "audiences", "prefix": "lookalike/",
                                                              "endpoint_url": endpoint},
                        {"access_key_id": "AKIASTANDIN", "secret_access_key": "standin-secret-key"}, secret)
        assert test_destination(pipe, t.tenant_id, "Warehouse", secret) == "bucket audiences/lookalike"
        aid, _ = name_it(owner, t.tenant_id, "Warehouse")
        refresh_memberships(pipe, t.tenant_id)
        res = sync_tenant(pipe, t.tenant_id, secret, batch_size=5)
        assert res[0].status == "succeeded" and res[0].added > 5 and res[0].batches > 1
        treatment = arm_emails(owner, t.tenant_id, aid, "treatment")
        add_suppression(app, t.tenant_id, emails=[sorted(treatment)[0]], reason="opt-out")
        refresh_memberships(pipe, t.tenant_id)
        assert sync_tenant(pipe, t.tenant_id, secret)[0].removed == 1
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="audiences")["Contents"])
        assert all(k.startswith(f"{res[0].external_id}/") for k in keys) and any(k.endswith("-remove.csv")
                                                                                for k in keys), keys
        held: set[str] = set()
        for k in keys:  # applying the objects in name order gives the audience
            rows = s3.get_object(Bucket="audiences", Key=k)["Body"].read().decode().splitlines()[1:]
            hashes = {r.split(",")[0] for r in rows}
            held = held | hashes if k.endswith("-add.csv") else held - hashes
        now = arm_emails(owner, t.tenant_id, aid, "treatment")
        assert sorted(treatment)[0] not in now and held == {sha(e) for e in now}
        app.close()
        pipe.close()
    finally:
        server.stop()


def test_a_google_ads_destination_runs_a_customer_match_job_per_batch(owner, cli_env, test_url, new_slug,
                                                                      tmp_path_factory):
    import json

    from standins import google_standin

    from lookalike_assets.pipeline.admin import add_suppression
    from lookalike_assets.pipeline.memberships import refresh_memberships

    g_app, g = google_standin("dev-token-standin", "client-1.apps.example", "client-secret-1", "1//refresh-standin")
    creds = tmp_path_factory.mktemp("google")
    (creds / "dev").write_text("dev-token-standin")
    (creds / "client.json").write_text(json.dumps({"installed": {"client_id": "client-1.apps.example",
                                                                 "client_secret": "client-secret-1"}}))
    (creds / "refresh").write_text("1//refresh-standin")
    t = load_tenant(owner, tenant_profile(0, new_slug("google")), 200, pool_size=80)
    pipe = connect(test_url, role=PIPELINE_ROLE)
    build_tenant(pipe, t.tenant_id, 80)
    with served(g_app) as url:
        code, out = cli("destinations", "add", "Google main", "--tenant", t.slug, "--platform", "google",
                        "--customer-id", "123-456-7890", "--developer-token-file", str(creds / "dev"),
                        "--oauth-client-file", str(creds / "client.json"), "--refresh-token-file",
                        str(creds / "refresh"), "--api-base-url", url)
        assert code == 0, out
        owner.execute("update lookalike_destination set options = options || %s where name = 'Google main'",
                      (Jsonb({"oauth_token_url": url + "/token"}),))
        code, out = cli("destinations", "test", "Google main", "--tenant", t.slug)
        assert code == 0 and "customer 1234567890 (Stand-in Ads)" in out, out
        aid, _ = name_it(owner, t.tenant_id, "Google main")
        refresh_memberships(pipe, t.tenant_id)
        code, out = cli("destinations", "sync", "Google main", "--tenant", t.slug, "--batch-size", "25")
        assert code == 0, out
        user_list = owner.execute("select external_id from lookalike_destination_audience where audience_id = %s",
                                  (aid,)).fetchone()[0]
        treatment = arm_emails(owner, t.tenant_id, aid, "treatment")
        assert g.user_lists[user_list] == {sha(e) for e in treatment}  # no gmail address among the demo's
        assert all(n <= 25 for _, n in g.calls) and g.polls >= len(g.calls)
        gone = sorted(treatment)[0]
        app = connect(test_url, role=APP_ROLE)
        add_suppression(app, t.tenant_id, emails=[gone], reason="opt-out")
        app.close()
        refresh_memberships(pipe, t.tenant_id)
        g.fail_next = [(429, {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "quota",
                                        "details": [{"retryDelay": "0s"}]}}, {})]
        code, out = cli("destinations", "sync", "Google main", "--tenant", t.slug)
        assert code == 0, out
        assert sha(gone) not in g.user_lists[user_list]
        # none of the four secrets is in what the command printed
        for secret_value in ("dev-token-standin", "client-secret-1", "1//refresh-standin", "ya29.standin"):
            assert secret_value not in out
    pipe.close()
