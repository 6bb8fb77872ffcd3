"""The studio in a real browser: Debian's Chromium driven by Playwright, against `lookalike api`'s application
served by uvicorn on loopback, on the real database with two built tenants and their marts."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest
from conftest import REPO, cli, served

from lookalike_assets.db.admin import grant_studio_user, revoke_studio_user
from lookalike_assets.db.connect import connect

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# CI installs Chromium (`make test`): there a missing browser fails these tests instead of skipping them
pytestmark = pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"),
                                reason="Debian's chromium is not installed (make test installs it as root)")
SHOTS = Path(os.environ.get("LOOKALIKE_STUDIO_SCREENSHOTS", REPO / ".lookalike" / "screenshots"))


@pytest.fixture(scope="module")
def instance():
    """The Dagster instance the served application reads runs from (an ephemeral one: runs of these tests)."""
    import dagster as dg

    with dg.DagsterInstance.ephemeral() as i:
        yield i


@pytest.fixture(scope="module")
def server(test_url, marts_built, two_tenants, instance):
    from lookalike_assets.api.main import create_app
    from lookalike_assets.domain.encoder_choice import get_encoder

    with served(create_app(test_url, encoder=get_encoder("hashing"), instance=instance)) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


@pytest.fixture
def owner_conn(test_url):
    c = connect(test_url)
    yield c
    c.close()


def signed_in(browser, server, owner_conn, tenant, role="editor", name=None, width=1280):
    person = grant_studio_user(owner_conn, tenant.tenant_id, name or f"{role}@{tenant.slug}.example", role)
    ctx = browser.new_context(viewport={"width": width, "height": 900})
    page = ctx.new_page()
    page.goto(server + person.link)
    return page, person


def audiences_of(owner_conn, tenant) -> dict[str, str]:
    return {r[1]: str(r[0]) for r in owner_conn.execute(
        "select audience_id, name from lookalike_audience where tenant_id = %s", (tenant.tenant_id,)).fetchall()}


def test_a_signed_out_visit_is_sent_to_sign_in_and_a_link_works_once(browser, server, owner_conn, two_tenants):
    a, _ = two_tenants
    page = browser.new_context().new_page()
    page.goto(server + "/studio")
    assert page.url.startswith(server + "/studio/sign-in")
    assert page.get_by_role("heading", name="Sign in").is_visible()
    person = grant_studio_user(owner_conn, a.tenant_id, "once@example.com", "viewer")
    page.goto(server + person.link)
    assert page.url == server + "/studio"
    cookie = next(c for c in page.context.cookies() if c["name"] == "lookalike_studio")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/studio"
    other = browser.new_context().new_page()
    response = other.goto(server + person.link)  # the same link again: used
    assert response.status == 400 and "expired or was already used" in other.content()
    # signing out ends the session
    page.get_by_role("button", name="Sign out").click()
    page.goto(server + "/studio")
    assert page.url.startswith(server + "/studio/sign-in")


def test_a_user_sees_every_audience_of_their_tenant_by_name_and_nothing_of_another(browser, server, owner_conn,
                                                                                   two_tenants):
    a, b = two_tenants
    page, _ = signed_in(browser, server, owner_conn, a, "viewer")
    text = page.inner_text("main")
    for name in audiences_of(owner_conn, a):
        assert page.get_by_role("link", name=name).is_visible()
    for name in audiences_of(owner_conn, b):
        assert name not in text
    assert not any(aid in page.content() for aid in audiences_of(owner_conn, b).values())
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "audiences.png"), full_page=True)
    # another tenant's audience in the URL: 404, and nothing of it shown
    b_name, b_id = next(iter(audiences_of(owner_conn, b).items()))
    response = page.goto(f"{server}/studio/audiences/{b_id}")
    assert response.status == 404 and b_name not in page.content()
    assert page.goto(f"{server}/studio/audiences/not-an-id").status == 404
    # search and filter by status
    page.goto(server + "/studio")
    page.get_by_label("Status").select_option("retired")
    page.get_by_role("button", name="Filter").click()
    assert "No audience matches" in page.inner_text("main")


def test_an_audience_shows_members_with_why_segments_and_charts_and_pages(browser, server, owner_conn, two_tenants):
    a, _ = two_tenants
    page, _ = signed_in(browser, server, owner_conn, a, "viewer")
    name, aid = sorted(audiences_of(owner_conn, a).items())[0]
    page.get_by_role("link", name=name).click()
    assert page.url == f"{server}/studio/audiences/{aid}"
    assert page.get_by_role("heading", name=name).is_visible()
    rows = page.locator("table.members tbody tr")
    assert rows.count() == min(50, owner_conn.execute(
        "select count(*) from lookalike_audience_member where audience_id = %s", (aid,)).fetchone()[0])
    assert page.locator(".why .part").count() > 0
    assert page.locator("svg.chart").count() >= 1  # reach and deciles from the marts
    assert page.get_by_role("heading", name="Segments").is_visible()
    content = page.content()
    assert aid not in page.inner_text("main")  # no ids on screen
    page.screenshot(path=str(SHOTS / "audience.png"))
    # sorting by company puts the companies in order
    page.get_by_role("link", name="company", exact=True).click()
    companies = [c.strip() for c in page.locator("table.members tbody tr td:nth-child(2)").all_inner_texts()]
    known = [c for c in companies if c != "—"]
    assert known == sorted(known, key=str.lower)
    # a phone-wide screen shows the same page without horizontal scrolling of the page itself
    small, _ = signed_in(browser, server, owner_conn, a, "viewer", name="phone@example.com", width=390)
    small.goto(f"{server}/studio/audiences/{aid}")
    assert small.evaluate("document.documentElement.scrollWidth") <= 400
    assert "Members" in content


def test_a_viewer_cannot_change_an_audience_and_an_editor_can(browser, server, owner_conn, two_tenants):
    a, _ = two_tenants
    name, aid = sorted(audiences_of(owner_conn, a).items())[-1]
    viewer, _ = signed_in(browser, server, owner_conn, a, "viewer", name="viewer2@example.com")
    viewer.goto(f"{server}/studio/audiences/{aid}")
    assert viewer.get_by_role("button", name="Retire").count() == 0
    csrf = viewer.locator("input[name=csrf]").first.get_attribute("value")
    r = viewer.request.post(f"{server}/studio/audiences/{aid}/retire", form={"csrf": csrf})
    assert r.status == 403 and "change audiences" in r.text()
    editor, person = signed_in(browser, server, owner_conn, a, "editor", name="editor2@example.com")
    editor.goto(f"{server}/studio/audiences/{aid}")
    r = editor.request.post(f"{server}/studio/audiences/{aid}/retire", form={"csrf": "forged"})
    assert r.status == 403  # no CSRF token of this session: refused
    status = owner_conn.execute("select status from lookalike_audience where audience_id = %s", (aid,)).fetchone()[0]
    editor.get_by_role("button", name="Retire").click()
    assert "retired" in editor.locator("h1 .status").inner_text()
    editor.get_by_role("button", name="Publish").click()
    assert "published" in editor.locator("h1 .status").inner_text()
    if status != "published":
        owner_conn.execute("update lookalike_audience set status = %s where audience_id = %s", (status, aid))
    # a revoked person is out at their next request
    revoke_studio_user(owner_conn, person.user_id)
    editor.goto(f"{server}/studio")
    assert editor.url.startswith(server + "/studio/sign-in")


def test_deleting_asks_for_the_name_typed(browser, server, owner_conn, two_tenants, test_url):
    from lookalike_assets.pipeline.admin import create_audience

    a, _ = two_tenants
    app = connect(test_url, role="lookalike_app")
    aid = create_audience(app, a.tenant_id, "Studio throwaway", seed_set={})
    app.close()
    editor, _ = signed_in(browser, server, owner_conn, a, "editor", name="deleter@example.com")
    editor.goto(f"{server}/studio/audiences/{aid}")
    editor.get_by_text("Delete…").click()
    editor.get_by_label("Type the audience's name").fill("Studio throwaway?")
    editor.get_by_role("button", name="Delete this audience").click()
    assert "type its name exactly" in editor.inner_text("main")
    editor.goto(f"{server}/studio/audiences/{aid}")
    editor.get_by_text("Delete…").click()
    editor.get_by_label("Type the audience's name").fill("Studio throwaway")
    editor.get_by_role("button", name="Delete this audience").click()
    assert editor.url.startswith(server + "/studio?") and "Deleted “Studio throwaway”" in editor.inner_text("main")
    assert owner_conn.execute("select count(*) from lookalike_audience where audience_id = %s",
                              (aid,)).fetchone()[0] == 0


def test_studio_people_from_the_command_line(cli_env, two_tenants, browser, server):
    import re

    a, _ = two_tenants
    code, out = cli("access", "grant", "--tenant", a.slug, "--kind", "studio", "--name", "cli@example.com",
                    "--role", "editor", "--url", server)
    assert code == 0, out
    link = re.search(r"(http://\S+/studio/sign-in/\S+)", out).group(1)
    user_id = re.search(r"user ([0-9a-f-]{36})", out).group(1)
    assert str(a.tenant_id) in out  # the tenant's id beside the user's: not to be confused
    code, out = cli("access", "list", "--tenant", a.slug)
    assert code == 0 and "cli@example.com" in out and "studio editor" in out
    page = browser.new_context().new_page()
    page.goto(link)
    assert page.url == server + "/studio"
    code, out = cli("access", "revoke", user_id)
    assert code == 0 and "revoked" in out
    page.goto(server + "/studio")
    assert page.url.startswith(server + "/studio/sign-in")
    code, out = cli("access", "grant", "--tenant", a.slug, "--kind", "studio", "--name", "x@example.com",
                    "--role", "owner")
    assert code == 2 and "unknown role" in out


def test_a_new_audience_from_a_sentence_with_the_reach_slider(browser, server, owner_conn, two_tenants, test_url):
    from conftest import build_tenant

    from lookalike_assets.db.connect import PIPELINE_ROLE

    a, _ = two_tenants
    page, _ = signed_in(browser, server, owner_conn, a, "editor", name="builder@example.com")
    page.get_by_role("link", name="New audience").click()
    page.get_by_role("button", name="Read it").click()  # nothing written yet: said beside the field
    assert page.locator("#description-error").is_visible() or page.locator("#description:invalid").count() == 1
    page.get_by_label("Describe who you want to reach").fill("engineering managers in Germany, like our closed deals")
    page.get_by_role("button", name="Read it").click()
    assert page.get_by_role("heading", name="How it was read").is_visible()
    filters = page.locator("input.keep")
    assert filters.count() >= 1
    text = page.inner_text("main")
    assert "germany" in text.lower()
    first = page.locator("#estimate").inner_text()
    assert "leads" in first and "eligible" in first
    # the slider: the estimate follows it without a reload
    page.locator("#reach").fill("1")
    page.wait_for_function("document.querySelector('#estimate').innerText.includes('1.0 %')", timeout=10000)
    page.locator("#reach").fill("10")
    page.wait_for_function("document.querySelector('#estimate').innerText.includes('10.0 %')", timeout=10000)
    page.screenshot(path=str(SHOTS / "new-audience.png"), full_page=True)
    page.get_by_label("Name").fill("Studio: German engineering managers")
    page.get_by_role("button", name="Create as a draft").click()
    assert "/studio/audiences/" in page.url and "Created as a draft" in page.inner_text("main")
    assert "Waiting for the next refresh of your team's data to build it" in page.inner_text("main")
    aid = page.url.split("/studio/audiences/")[1].split("?")[0]
    rules = owner_conn.execute("select rules, status from lookalike_audience where audience_id = %s",
                               (aid,)).fetchone()
    assert rules[1] == "draft" and rules[0]["reach"] == {"max_percent": 10.0}
    assert any(f["field"] == "country" for f in rules[0]["filters"])
    # the refresh builds it; the page notices by itself
    pipe = connect(test_url, role=PIPELINE_ROLE)
    build_tenant(pipe, a.tenant_id, 150)
    pipe.close()
    page.wait_for_selector("table.members", timeout=20000)
    # the same name again: the error in words beside the name
    page.goto(server + "/studio/new")
    page.get_by_label("Describe who you want to reach").fill("engineering managers in Germany")
    page.get_by_role("button", name="Read it").click()
    page.get_by_label("Name").fill("Studio: German engineering managers")
    page.get_by_role("button", name="Create as a draft").click()
    assert "exists already" in page.locator("#name-error").inner_text()


def test_seeds_added_by_ids_and_by_a_csv_and_removed(browser, server, owner_conn, two_tenants, tmp_path):
    a, b = two_tenants
    own = [r[0] for r in owner_conn.execute(
        "select l.external_id from leads l where l.tenant_id = %s and not l.is_seed order by l.external_id limit 3",
        (a.tenant_id,)).fetchall()]
    # another tenant's lead, by its lead id (external ids of the demo tenants coincide)
    foreign = str(owner_conn.execute("select lead_id from leads where tenant_id = %s order by lead_id limit 1",
                                     (b.tenant_id,)).fetchone()[0])
    page, _ = signed_in(browser, server, owner_conn, a, "editor", name="seeder@example.com")
    page.get_by_role("link", name="Seeds").click()
    page.get_by_label("Lead ids").fill(f"{own[0]}\n{foreign}")
    page.get_by_label("Why they are seeds").select_option("replied")
    page.get_by_role("button", name="Add").click()
    note = page.get_by_role("status").inner_text()
    assert "1 added as replied" in note and f"not leads of yours: {foreign}" in note
    csv_file = tmp_path / "ids.csv"
    csv_file.write_text(f"external_id,notes\n{own[1]},x\n{own[2]},y\n")
    page.get_by_label("…or a CSV file with an id column").set_input_files(str(csv_file))
    page.get_by_role("button", name="Add").click()
    assert "2 added as won" in page.get_by_role("status").inner_text()
    assert owner_conn.execute("select count(*) from lookalike_seed s join leads l using (tenant_id, lead_id) "
                              "where s.tenant_id = %s and l.external_id = any(%s) and s.deleted_at is null",
                              (a.tenant_id, own)).fetchone()[0] == 3
    for ext in own:
        page.get_by_label(f"remove {ext}").check()
    page.get_by_role("button", name="Remove the ticked seeds").click()
    assert "3 seed(s) removed" in page.get_by_role("status").inner_text()
    page.get_by_role("button", name="Add").click()  # nothing given: said, nothing done
    assert "one per line" in page.get_by_role("alert").inner_text()
    viewer, _ = signed_in(browser, server, owner_conn, a, "viewer", name="seedviewer@example.com")
    viewer.goto(server + "/studio/seeds")
    assert viewer.get_by_role("button", name="Add").count() == 0


def test_the_performance_page_shows_each_audience_and_its_deciles(browser, server, owner_conn, two_tenants):
    a, b = two_tenants
    page, _ = signed_in(browser, server, owner_conn, a, "viewer", name="perf@example.com")
    page.get_by_role("link", name="Performance").click()
    assert page.get_by_role("heading", name=f"How {a.slug.replace('-', ' ').title()}'s audiences perform").is_visible()
    text = page.inner_text("main")
    for name in audiences_of(owner_conn, a):
        if owner_conn.execute("select count(*) from marts.mart_audience_summary where audience_name = %s "
                              "and tenant_id = %s", (name, a.tenant_id)).fetchone()[0]:
            assert name in text
    assert not any(name in text for name in audiences_of(owner_conn, b))
    assert page.locator("svg.chart").count() >= 1 and "converted" in text
    page.screenshot(path=str(SHOTS / "performance.png"), full_page=True)


def test_editing_an_audience_its_filters_reach_exclusions_and_picked_seeds(browser, server, owner_conn, two_tenants,
                                                                          test_url):
    from lookalike_assets.pipeline.admin import create_audience

    a, b = two_tenants
    app = connect(test_url, role="lookalike_app")
    aid = create_audience(app, a.tenant_id, "Studio editable", seed_set={"labels": ["won"]}, rules={
        "filters": [{"field": "country", "op": "in", "values": ["germany"]},
                    {"field": "company_size", "op": "gte", "value": 50}],
        "reach": {"max_percent": 3}, "destinations": [{"platform": "crm", "per_segment": True}, "meta"]})
    app.close()
    seeds = owner_conn.execute(
        "select s.seed_id::text from lookalike_seed s where s.tenant_id = %s and s.deleted_at is null "
        "order by s.created_at limit 2", (a.tenant_id,)).fetchall()
    page, _ = signed_in(browser, server, owner_conn, a, "editor", name="edit@example.com")
    page.goto(f"{server}/studio/audiences/{aid}")
    page.get_by_role("link", name="Edit").click()
    assert page.get_by_role("heading", name="Edit Studio editable").is_visible()
    labels = page.locator("input.keep")
    assert labels.count() == 2 and "country is germany" in page.inner_text("main")
    page.get_by_label("company size at least 50").uncheck()
    page.locator("#reach").fill("7")
    page.get_by_label("customers (won deals and closed conversions)").check()
    others = [n for n in audiences_of(owner_conn, a) if n != "Studio editable"]
    page.get_by_text("members of other audiences").click()
    page.get_by_label(others[0], exact=True).check()
    page.get_by_text("…or pick the seeds one by one").click()
    for (seed_id,) in seeds:
        page.locator(f"input[name=seed_ids][value='{seed_id}']").check()
    page.get_by_label("Meta (custom audience): a file to upload").uncheck()
    page.screenshot(path=str(SHOTS / "edit-audience.png"), full_page=True)
    page.get_by_role("button", name="Save changes").click()
    assert page.url.startswith(f"{server}/studio/audiences/{aid}?saved=")
    assert "Changes saved" in page.inner_text("main")
    assert "Waiting for the next refresh of your team's data to rebuild it" in page.inner_text("main") or \
        "to build it" in page.inner_text("main")
    rules, seed_set = owner_conn.execute("select rules, seed_set from lookalike_audience where audience_id = %s",
                                         (aid,)).fetchone()
    assert rules["filters"] == [{"field": "country", "op": "in", "values": ["germany"]}]
    assert rules["reach"] == {"max_percent": 7.0}
    assert rules["exclude"] == {"seeds": True, "customers": True, "audiences": [others[0]]}
    assert rules["destinations"] == [{"platform": "crm", "per_segment": True}]  # its options kept
    assert seed_set == {"labels": ["won"], "seed_ids": [s for (s,) in seeds]}
    # a viewer sees no form to save and is refused if they post one
    viewer, _ = signed_in(browser, server, owner_conn, a, "viewer", name="editviewer@example.com")
    viewer.goto(f"{server}/studio/audiences/{aid}/edit")
    assert viewer.get_by_role("button", name="Save changes").count() == 0
    csrf = viewer.locator("input[name=csrf]").first.get_attribute("value")
    r = viewer.request.post(f"{server}/studio/audiences/{aid}/edit", form={
        "csrf": csrf, "action": "save", "name": "Renamed by a viewer", "rules_json": "{}", "drafted": "true"})
    assert r.status == 403
    # another tenant's audience: 404, nothing of it shown or changed
    b_name, b_id = next(iter(audiences_of(owner_conn, b).items()))
    assert viewer.goto(f"{server}/studio/audiences/{b_id}/edit").status == 404
    r = page.request.post(f"{server}/studio/audiences/{b_id}/edit", form={
        "csrf": page.locator("input[name=csrf]").first.get_attribute("value"), "action": "save",
        "name": "Hijacked", "rules_json": "{}", "drafted": "true"})
    assert r.status == 404 and b_name in audiences_of(owner_conn, b)
    # an error is said beside its field and nothing is saved
    page.goto(f"{server}/studio/audiences/{aid}/edit")
    page.get_by_label("Name").fill(others[0])
    page.get_by_role("button", name="Save changes").click()
    assert "exists already" in page.locator("#name-error").inner_text()
    assert "Studio editable" in audiences_of(owner_conn, a)


def test_exporting_now_and_downloading_the_file(browser, server, owner_conn, two_tenants, test_url):
    from lookalike_assets.db.connect import PIPELINE_ROLE
    from lookalike_assets.domain.exports import LocalFolderDestination
    from lookalike_assets.pipeline.exports import run_exports
    from lookalike_assets.settings import get_settings

    a, b = two_tenants
    name, aid = sorted(audiences_of(owner_conn, a).items())[0]
    owner_conn.execute("update lookalike_audience set status = 'published' where audience_id = %s", (aid,))
    page, _ = signed_in(browser, server, owner_conn, a, "editor", name="exporter@example.com")
    page.goto(f"{server}/studio/audiences/{aid}")
    page.get_by_label("Export to").select_option("google")
    page.get_by_role("button", name="Export now").click()
    assert "Export to Google Ads (Customer Match) asked for" in page.inner_text("main")
    job = owner_conn.execute("select kind, platform from lookalike_api_job where audience_id = %s "
                             "order by created_at desc limit 1", (aid,)).fetchone()
    assert job == ("export", "google")
    # the export sensor's run writes the file; the page lists it and it downloads
    pipe = connect(test_url, role=PIPELINE_ROLE)
    run_exports(pipe, a.tenant_id, LocalFolderDestination(get_settings().exports_dir), audience=uuid.UUID(aid),
                platforms=["google"])
    pipe.close()
    page.goto(f"{server}/studio/audiences/{aid}")
    link = page.get_by_role("link", name="google.csv")
    assert link.is_visible()
    with page.expect_download() as download:
        link.click()
    saved = download.value
    assert saved.suggested_filename.endswith("google.csv")
    body = Path(saved.path()).read_text()
    assert body.startswith("Email,Phone,First Name")
    # nothing outside the audience's folder, nothing of another tenant's audience
    for path in ("../index.csv", "..%2Findex.csv", "%2E%2E/%2E%2E/secret", "nope.csv"):
        assert page.request.get(f"{server}/studio/audiences/{aid}/files/{path}").status == 404
    b_id = next(iter(audiences_of(owner_conn, b).values()))
    assert page.request.get(f"{server}/studio/audiences/{b_id}/files/google.csv").status == 404
    # a draft is not exported: said in words
    owner_conn.execute("update lookalike_audience set status = 'draft' where audience_id = %s", (aid,))
    r = page.request.post(f"{server}/studio/audiences/{aid}/export", form={
        "csrf": page.locator("input[name=csrf]").first.get_attribute("value"), "platform": "meta"})
    assert r.status == 409 and "publish it before exporting" in r.text()
    owner_conn.execute("update lookalike_audience set status = 'published' where audience_id = %s", (aid,))


def test_finding_a_lead_and_its_similar_leads(browser, server, owner_conn, two_tenants):
    a, b = two_tenants
    company, person = owner_conn.execute(
        "select company, concat_ws(' ', first_name, last_name) from leads where tenant_id = %s "
        "and company is not null order by external_id limit 1", (a.tenant_id,)).fetchone()
    page, _ = signed_in(browser, server, owner_conn, a, "viewer", name="finder@example.com")
    page.get_by_role("link", name="Leads").click()
    page.get_by_label("Name, company, title, email or your CRM's id").fill(company)
    page.get_by_role("button", name="Find").click()
    results = page.locator("table tbody tr")
    assert results.count() >= 1
    assert all(company.lower() in t.lower() for t in page.locator("table tbody tr td:nth-child(2)").all_inner_texts())
    page.locator("table tbody tr th a").first.click()
    assert page.get_by_role("heading", name="Leads like this one").is_visible()
    similar = page.locator("table.members tbody tr")
    assert similar.count() == 20
    assert page.locator(".why .part").count() > 0
    page.screenshot(path=str(SHOTS / "lead.png"), full_page=True)
    # a lead of another tenant, by its id: 404, nothing shown
    b_lead, b_company = owner_conn.execute("select lead_id, company from leads where tenant_id = %s limit 1",
                                           (b.tenant_id,)).fetchone()
    r = page.goto(f"{server}/studio/leads/{b_lead}")
    assert r.status == 404 and (b_company or "zz-none") not in page.inner_text("main")
    page.goto(f"{server}/studio/leads?q=" + "%25")  # a wildcard is a character, not everything
    assert "No lead matches" in page.inner_text("main")
    assert person


def test_uploading_leads_shows_the_dry_run_before_anything_is_stored(browser, server, owner_conn, two_tenants,
                                                                    tmp_path):
    a, b = two_tenants
    rows = owner_conn.execute(
        "select external_id, first_name, last_name, company, industry, title, country, company_size, email "
        "from leads where tenant_id = %s order by external_id limit 3", (a.tenant_id,)).fetchall()
    header = "external_id,first_name,last_name,company,industry,title,country,company_size,email"
    lines = [header] + [",".join("" if v is None else str(v) for v in r) for r in rows]
    lines.append("upload-new-1,Ada,Lovelace,Analytical Engines,software,CTO,germany,40,ada@example.com")
    lines.append("upload-new-1,Ada,Again,Duplicate Row,software,CTO,germany,40,ada2@example.com")  # rejected
    f = tmp_path / "new-leads.csv"
    f.write_text("\n".join(lines) + "\n")
    before = owner_conn.execute("select count(*) from leads where tenant_id = %s", (a.tenant_id,)).fetchone()[0]
    page, _ = signed_in(browser, server, owner_conn, a, "editor", name="uploader@example.com")
    page.goto(server + "/studio/leads")
    page.get_by_label("A CSV file of leads").set_input_files(str(f))
    page.get_by_role("button", name="Check the file").click()
    assert page.get_by_role("heading", name="Check new-leads.csv before importing it").is_visible()
    text = page.inner_text("main")
    assert "1 new leads" in text and "1 left out" in text and "duplicate id" in text
    assert "How each column is read" in text and "What leads are compared on" in text
    page.screenshot(path=str(SHOTS / "upload-preview.png"), full_page=True)
    assert owner_conn.execute("select count(*) from leads where tenant_id = %s", (a.tenant_id,)).fetchone()[0] == before
    token = page.locator("input[name=token]").get_attribute("value")
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    # another tenant's person cannot import this upload (its token names nothing of theirs)
    other, _ = signed_in(browser, server, owner_conn, b, "editor", name="uploader-b@example.com")
    other.goto(server + "/studio/leads")
    r = other.request.post(server + "/studio/leads/import", form={
        "csrf": other.locator("input[name=csrf]").first.get_attribute("value"), "token": token})
    assert r.status == 410
    assert owner_conn.execute("select count(*) from leads where tenant_id = %s and external_id = 'upload-new-1'",
                              (b.tenant_id,)).fetchone()[0] == 0
    page.get_by_role("button", name="Import 4 leads").click()
    assert "Imported new-leads.csv" in page.inner_text("main") and "1 new leads" in page.inner_text("main")
    assert owner_conn.execute("select count(*) from leads where tenant_id = %s", (a.tenant_id,)).fetchone()[0] \
        == before + 1
    # the upload is gone once imported: the same token again is refused
    r = page.request.post(server + "/studio/leads/import", form={"csrf": csrf, "token": token})
    assert r.status == 410
    # a file that is not a table: said beside the field, nothing kept
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"")
    page.goto(server + "/studio/leads")
    page.get_by_label("A CSV file of leads").set_input_files(str(bad))
    page.get_by_role("button", name="Check the file").click()
    assert page.locator("#leads-error").is_visible()
    viewer, _ = signed_in(browser, server, owner_conn, a, "viewer", name="uploadviewer@example.com")
    viewer.goto(server + "/studio/leads")
    assert viewer.get_by_role("button", name="Check the file").count() == 0
    owner_conn.execute("delete from leads where tenant_id = %s and external_id = 'upload-new-1'", (a.tenant_id,))


def test_a_build_shows_its_steps_from_the_real_run(browser, server, owner_conn, two_tenants, test_url, instance,
                                                   tmp_path):
    import dagster as dg

    from lookalike_assets.definitions import tenant_assets
    from lookalike_assets.defs.audiences.resources import ExportDestinationResource
    from lookalike_assets.defs.leads.resources import TextEncoderResource
    from lookalike_assets.defs.partitions import TENANTS_PARTITION
    from lookalike_assets.defs.resources import LookalikeConfig, LookalikeDatabase
    from lookalike_assets.pipeline.admin import create_audience

    a, _ = two_tenants
    app = connect(test_url, role="lookalike_app")
    aid = create_audience(app, a.tenant_id, "Studio stepwise", seed_set={"labels": ["won"]})
    app.close()
    page, _ = signed_in(browser, server, owner_conn, a, "viewer", name="steps@example.com")
    page.goto(f"{server}/studio/audiences/{aid}")
    assert "Waiting for the next refresh" in page.inner_text("main")
    if a.slug not in instance.get_dynamic_partitions(TENANTS_PARTITION):
        instance.add_dynamic_partitions(TENANTS_PARTITION, [a.slug])
    features = next(x for x in tenant_assets if x.key.path[-1] == "lead_features")
    run = dg.materialize([features], partition_key=a.slug, instance=instance, resources={
        "db": LookalikeDatabase(database_url=test_url), "encoder": TextEncoderResource(encoder="hashing"),
        "lookalike": LookalikeConfig(pool_size=150), "exports": ExportDestinationResource(folder=str(tmp_path))})
    assert run.success
    page.goto(f"{server}/studio/audiences/{aid}")
    steps = page.locator("ol.steps li")
    assert steps.count() == 1 and "Reading the leads' fields" in steps.first.inner_text()
    assert "done" in steps.first.inner_text()
    assert "lead_features" not in page.inner_text("main")


def test_the_ranking_models_influential_factors_in_words(browser, server, owner_conn, test_url):
    from conftest import built_tenants

    from lookalike_assets.db.connect import PIPELINE_ROLE
    from lookalike_assets.pipeline.ranking import train_and_promote

    t, = built_tenants(test_url, [(2, "studio-rank")], 400, pool_size=150)
    pipe = connect(test_url, role=PIPELINE_ROLE)
    res = train_and_promote(pipe, t.tenant_id)
    pipe.close()
    assert res.status == "promoted", res
    name, aid = sorted(audiences_of(owner_conn, t).items())[0]
    page, _ = signed_in(browser, server, owner_conn, t, "viewer", name="factors@example.com")
    page.goto(f"{server}/studio/audiences/{aid}")
    section = page.locator("section", has=page.get_by_role("heading", name="What makes a lead rank high"))
    chart = section.locator("svg.chart")
    assert chart.count() == 1
    words = chart.locator("text.axis").all_text_contents()
    assert len(words) >= 3 and any(w.startswith(("likeness", "closeness")) for w in words)
    assert not any(w.startswith(("sim_", "block_", "f_", "c_")) or "_" in w for w in words), words


def test_a_form_being_sent_says_so_and_cannot_be_sent_twice(browser, server, owner_conn, two_tenants):
    a, _ = two_tenants
    page, _ = signed_in(browser, server, owner_conn, a, "editor", name="busy@example.com")
    page.goto(server + "/studio/new")
    page.get_by_label("Describe who you want to reach").fill("CTOs in Germany")
    loading = page.get_by_text("reading the sentence…")
    assert not loading.is_visible()
    # sent, and held before the page leaves (the listener after the studio's stops the navigation)
    page.evaluate("""() => {
        window.addEventListener('submit', (e) => e.preventDefault());
        document.querySelector('#new-audience').requestSubmit(document.querySelector('button[value=read]'));
    }""")
    page.wait_for_function("document.querySelector('button[value=read]').disabled")
    assert loading.is_visible()
    assert page.locator("#new-audience").get_attribute("aria-busy") == "true"


def test_every_page_passes_the_accessibility_rules(browser, server, owner_conn, two_tenants, tmp_path):
    """axe-core (shipped in the axe-playwright-python package, nothing downloaded) on each page as an editor sees
    it, at desktop and phone width: no violation of the WCAG 2.x A and AA rules (contrast, labels, names of
    buttons and links, landmarks, ARIA)."""
    from axe_playwright_python.sync_playwright import Axe

    a, _ = two_tenants
    name, aid = sorted(audiences_of(owner_conn, a).items())[0]
    lead = owner_conn.execute("select lead_id from leads where tenant_id = %s order by external_id limit 1",
                              (a.tenant_id,)).fetchone()[0]
    upload = tmp_path / "a11y.csv"
    upload.write_text("external_id,company,title\nxa-1,Acme,CTO\nxa-1,Acme,CTO\n")
    axe = Axe()

    def check(page, what: str, width: int) -> None:
        results = axe.run(page, options={"runOnly": {"type": "tag", "values": [
            "wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}, "resultTypes": ["violations"]})
        found = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
                 for v in results.response["violations"]]
        assert not found, (what, width, found)

    for width in (1280, 390):
        page, _ = signed_in(browser, server, owner_conn, a, "editor", name=f"a11y{width}@example.com", width=width)
        for path in ("/studio", f"/studio/audiences/{aid}", f"/studio/audiences/{aid}/edit", "/studio/seeds",
                     "/studio/destinations", "/studio/columns",
                     "/studio/leads?q=a", f"/studio/leads/{lead}", "/studio/performance", "/studio/new"):
            page.goto(server + path)
            check(page, path, width)
        page.get_by_label("Describe who you want to reach").fill("CTOs in Germany, like our closed deals")
        page.get_by_role("button", name="Read it").click()
        check(page, "a read draft", width)
        page.goto(server + "/studio/leads")
        page.get_by_label("A CSV file of leads").set_input_files(str(upload))
        page.get_by_role("button", name="Check the file").click()
        check(page, "an upload's preview", width)


def test_destinations_are_added_listed_and_removed_without_showing_a_secret(browser, server, owner_conn,
                                                                           two_tenants, test_url):
    from lookalike_assets.pipeline.destinations import add_destination
    from lookalike_assets.settings import get_settings

    a, b = two_tenants
    page, _ = signed_in(browser, server, owner_conn, a, "editor", name="dest-editor@example.com")
    page.get_by_role("link", name="Destinations").click()
    page.get_by_text("Webhook", exact=True).click()
    page.get_by_label("Name people will recognize").nth(3).fill("Studio hook")
    page.get_by_label("URL (https://…)").fill("https://hooks.example.com/lookalike")
    page.get_by_label("Signing secret").fill("whsec-studio-0123456789")
    page.locator("form:has(input[value=webhook])").get_by_role("button", name="Add").click()
    assert "Studio hook added" in page.get_by_role("status").inner_text()
    assert page.get_by_role("rowheader", name="Studio hook").is_visible()
    assert "whsec-studio" not in page.content()
    sealed = owner_conn.execute("select sealed from lookalike_destination where tenant_id = %s and name = %s",
                                (a.tenant_id, "Studio hook")).fetchone()[0]
    assert b"whsec-studio" not in bytes(sealed)
    # a missing credential is said, beside its platform's form, and nothing is added
    page.get_by_text("Meta (custom audience)", exact=True).click()
    page.get_by_label("Name people will recognize").first.fill("Half Meta")
    page.get_by_label("Ad account (act_…)").fill("act_1")
    page.locator("form:has(input[value=meta])").get_by_role("button", name="Add").click()
    assert "needs: access_token" in page.get_by_role("alert").inner_text()
    # another tenant's destination cannot be removed from here; a viewer sees no form
    app = connect(test_url, role="lookalike_app")
    other = add_destination(app, b.tenant_id, "B hook", "webhook", {"url": "https://b.example.com"},
                            {"signing_secret": "b-secret"}, get_settings().secret_value())
    app.close()
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    r = page.request.post(f"{server}/studio/destinations/{other}/remove", form={"csrf": csrf, "confirm": "B hook"})
    assert r.status == 404 and "B hook" not in r.text()
    viewer, _ = signed_in(browser, server, owner_conn, a, "viewer", name="dest-viewer@example.com")
    viewer.goto(server + "/studio/destinations")
    assert viewer.get_by_role("rowheader", name="Studio hook").is_visible()
    assert viewer.get_by_text("Add a destination").count() == 0
    page.get_by_text("Remove…").first.click()
    page.get_by_label("Type its name to remove it").first.fill("Studio hook")
    page.get_by_role("button", name="Remove Studio hook").click()
    assert "Studio hook removed" in page.get_by_role("status").inner_text()
    page.screenshot(path=str(SHOTS / "destinations.png"), full_page=True)


def test_columns_page_shows_what_each_column_means_and_a_correction_changes_how_words_read(browser, server,
                                                                                           owner_conn, test_url,
                                                                                           tmp_path):
    """Issue 30: a tenant's imported columns in words (unit, kind, words for them); an editor corrects one and
    the next description reads it so; a viewer sees no form; the page has no WCAG A/AA violation."""
    import sys
    from types import SimpleNamespace

    from axe_playwright_python.sync_playwright import Axe

    from lookalike_assets.db import admin as db_admin
    from lookalike_assets.db.connect import APP_ROLE
    from lookalike_assets.pipeline.importer import import_leads

    sys.path.insert(0, str(REPO / "tests"))
    from describe_tables import telco_rows, write_csv

    slug = f"cols-{uuid.uuid4().hex[:8]}"
    tid = uuid.UUID(db_admin.create_tenant(owner_conn, slug, "Telco columns"))
    with connect(test_url, role=APP_ROLE) as app:
        import_leads(app, tid, write_csv(telco_rows(80), tmp_path / "telco.csv"))
    tenant = SimpleNamespace(tenant_id=tid, slug=slug)
    page, _ = signed_in(browser, server, owner_conn, tenant, "editor", name="cols-editor@example.com")
    page.get_by_role("link", name="Columns").click()
    tenure = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="tenure", exact=True))
    assert "months" in tenure.inner_text()
    charges = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="monthly_charges", exact=True))
    charges.get_by_text("Correct…").click()
    charges.get_by_label("Words for it, separated by commas").fill("bill, phone bill")
    charges.get_by_role("button", name="Save").click()
    assert page.get_by_role("status").is_visible() and "monthly_charges" in page.get_by_role("status").inner_text()
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        results = Axe().run(page, options={"runOnly": {"type": "tag", "values": [
            "wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}, "resultTypes": ["violations"]})
        assert not results.response["violations"], [v["id"] for v in results.response["violations"]]
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(server + "/studio/new")
    page.get_by_label("Describe who you want to reach").fill("a bill over 100")
    page.get_by_role("button", name="Read it").click()
    assert "monthly" in page.locator("main").inner_text().lower()
    # a bad scale is refused in words, nothing changes
    page.goto(server + "/studio/columns")
    charges = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="monthly_charges", exact=False))
    charges.get_by_text("Correct…").click()
    charges.get_by_label("One stored unit is worth (1000: in thousands)").fill("lots")
    charges.get_by_role("button", name="Save").click()
    assert "must be a number" in page.get_by_role("alert").inner_text()
    viewer, _ = signed_in(browser, server, owner_conn, tenant, "viewer", name="cols-viewer@example.com")
    viewer.goto(server + "/studio/columns")
    assert viewer.get_by_text("Correct…").count() == 0 and "bill, phone bill" in viewer.locator("main").inner_text()


def test_the_api_docs_render_with_no_internet(browser, server):
    """/docs (Swagger UI) and /redoc (ReDoc) load their scripts, styles and fonts from the package: every request
    the pages make goes to the service itself, and the pages show the API's operations."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    elsewhere: list[str] = []

    def only_here(route):
        if route.request.url.startswith(server):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_here)
    page.goto(server + "/docs")
    page.wait_for_selector(".swagger-ui .info .title", timeout=30_000)
    assert "lookalike" in page.inner_text(".swagger-ui .info .title")
    page.wait_for_selector(".opblock-summary-path", timeout=30_000)
    assert page.locator(".opblock-summary-path").count() > 10
    page.goto(server + "/redoc")
    page.wait_for_selector("h1", timeout=30_000)
    assert "lookalike" in page.inner_text("h1")
    page.wait_for_selector("[data-section-id]", timeout=30_000)
    assert elsewhere == [], elsewhere
    ctx.close()
