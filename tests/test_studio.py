"""The studio in a real browser: Debian's Chromium driven by Playwright, against `lookalike api`'s application
served by uvicorn on loopback, on the real database with two built tenants and their marts."""

from __future__ import annotations

import os
import shutil
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
def server(test_url, marts_built, two_tenants):
    from lookalike_assets.api.app import create_app
    from lookalike_assets.domain.encoders import get_encoder

    with served(create_app(test_url, encoder=get_encoder("hashing"))) as url:
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
    assert "Being built" in page.inner_text("main")
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
