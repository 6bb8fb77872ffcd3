"""The studio's pages: server-rendered HTML (Jinja2) with a vendored htmx for the parts that update in place.

A thin layer: every read goes through ``pipeline/studio.py`` and every change through the same functions the CLI
and the REST API call (``pipeline/admin.py``), on the API's service login inside the signed-in person's tenant
transaction. Nothing here holds tenant data between requests.

Sign-in: a one-time link (``lookalike access grant --kind studio``) becomes a session: an opaque 256-bit token in
an HttpOnly, SameSite=Lax cookie, stored only as its SHA-256, looked up on every request (so a revoked person is
out at their next request). Every form carries a CSRF token derived from the session (HMAC with the deployment's
secret) and is refused without it.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import logging
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import psycopg
from fastapi import APIRouter, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field

from lookalike_assets.db.connect import API_ROLE
from lookalike_assets.domain.apikeys import hash_key, new_token
from lookalike_assets.domain.columns import NAMES, normalize_name
from lookalike_assets.domain.similarity import LABEL_WEIGHTS
from lookalike_assets.pipeline import admin as admin_ops
from lookalike_assets.pipeline import studio as data
from lookalike_assets.pipeline.admin import AdminError
from lookalike_assets.pipeline.destinations import list_destinations
from lookalike_assets.pipeline.exports import audience_file, audience_files, audience_folder
from lookalike_assets.pipeline.uploads import UploadStore
from lookalike_assets.settings import get_settings
from lookalike_assets.studio.charts import bar_chart, hbar_chart, line_chart

HERE = Path(__file__).resolve().parent
log = logging.getLogger(__name__)
COOKIE = "lookalike_studio"
SESSION_SECONDS = 12 * 3600
HTMX = "htmx-2.0.11.min.js"
UPLOAD_BYTES = 50 * 2**20

Connection = Callable[[], AbstractContextManager[psycopg.Connection]]


@dataclass(frozen=True)
class Person:
    tenant_id: uuid.UUID
    user_id: uuid.UUID
    name: str
    role: str
    slug: str
    tenant_name: str
    csrf: str

    @property
    def can_edit(self) -> bool:
        return self.role == "editor"


class SignInRequired(Exception):
    """No live session: a page sends the person to sign in."""


class StudioError(Exception):
    def __init__(self, status: int, title: str, message: str):
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


def _when(value: Any) -> str:
    if not value:
        return "never"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    seconds = (datetime.now(timezone.utc) - value).total_seconds()
    if seconds < 90:
        return "just now"
    if seconds < 5400:
        return f"{seconds / 60:.0f} minutes ago"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.0f} hours ago"
    return f"{value:%d %b %Y}"


def _when_of(value: Any) -> datetime | None:
    if isinstance(value, datetime) or value is None:
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


STEP_WORDS = {
    "lead_features": "Reading the leads' fields", "lead_embeddings": "Turning leads into vectors",
    "seed_profiles": "Learning what the seeds have in common", "candidate_pools": "Finding the closest leads",
    "ranking_model": "Training the ranking model", "audience_memberships": "Applying the rules and exclusions",
    "audience_segments": "Splitting into segments", "audience_exports": "Writing the export files",
    "destination_syncs": "Sending it to the ad platforms",
    "conversion_facts": "Counting conversions", "performance_reports": "Updating the performance report",
}


def step_words(key: str) -> str:
    """A run step as words: the asset's name as a sentence (dbt models: "Updating the BI tables")."""
    name = key.split(".")[-1]
    if name in STEP_WORDS:
        return STEP_WORDS[name]
    if key.startswith(("marts", "dbt")) or name.startswith(("mart_", "stg_", "int_")):
        return "Updating the BI tables"
    return name.replace("_", " ").capitalize()


def _percent(value: Any, digits: int = 1) -> str:
    return "—" if value is None else f"{float(value) * 100:.{digits}f} %"


PLATFORM_NAMES = {"meta": "Meta", "google": "Google Ads", "linkedin": "LinkedIn", "webhook": "webhook", "s3": "S3"}
# The fields of each platform's form in the studio: (name, label, is it secret).
DESTINATION_FORMS = {
    "meta": ("Meta (custom audience)", [("ad_account", "Ad account (act_…)", False),
                                        ("access_token", "Access token of a system user", True)]),
    "google": ("Google Ads (Customer Match)", [("customer_id", "Customer id (123-456-7890)", False),
                                              ("login_customer_id", "Manager account id (if any)", False),
                                              ("developer_token", "Developer token", True),
                                              ("client_id", "OAuth client id", True),
                                              ("client_secret", "OAuth client secret", True),
                                              ("refresh_token", "OAuth refresh token", True)]),
    "linkedin": ("LinkedIn (matched audience)", [("ad_account", "Ad account number", False),
                                                 ("access_token", "Access token (rw_dmp_segments)", True)]),
    "webhook": ("Webhook", [("url", "URL (https://…)", False), ("signing_secret", "Signing secret", True)]),
    "s3": ("S3-compatible storage", [("bucket", "Bucket", False), ("prefix", "Prefix", False),
                                     ("endpoint_url", "Endpoint (empty: AWS)", False), ("region", "Region", False),
                                     ("access_key_id", "Access key id", True),
                                     ("secret_access_key", "Secret access key", True)]),
}
DESTINATIONS = (("meta", "Meta (custom audience)"), ("google", "Google Ads (Customer Match)"),
                ("linkedin", "LinkedIn (matched audience)"), ("crm", "CRM file"))


def destination_key(d: Any) -> str:
    """A destination of the rules as the form's value: a file format ("meta"), or "dest:<name>" for one of the
    tenant's destinations."""
    if isinstance(d, dict):
        return f"dest:{d['destination']}" if "destination" in d else str(d.get("platform"))
    return str(d)


@dataclass
class NewAudienceForm:
    """What the audience form holds (a new audience, or an edit of one): the draft's rules as read, and what the
    person chose."""

    description: str = ""
    name: str = ""
    rules_json: str = ""
    keep: list[int] | None = None
    labels: list[str] | None = None
    reach_percent: float = 5.0
    holdout_percent: int = 0
    destinations: list[str] | None = None
    seed_ids: list[str] | None = None
    exclude_seeds: bool = True
    exclude_customers: bool = False
    exclude_audiences: list[str] | None = None
    capped: bool = True  # the reach slider caps the size (an audience may have no cap)

    def draft_rules(self) -> dict:
        try:
            rules = json.loads(self.rules_json) if self.rules_json else {}
        except ValueError:
            rules = {}
        return rules if isinstance(rules, dict) else {}

    def rules(self) -> dict:
        """The rules to save: the draft's filters the person kept, their reach, exclusions, holdout and
        destinations (a destination the draft had as an object, with its options, stays so while ticked)."""
        draft = self.draft_rules()
        filters = draft.get("filters") or []
        keep = set(self.keep if self.keep is not None else range(len(filters)))
        out = {k: v for k, v in draft.items() if k not in ("filters", "reach", "holdout", "destinations", "exclude")}
        kept = [f for i, f in enumerate(filters) if i in keep]
        if kept:
            out["filters"] = kept
        reach = {k: v for k, v in (draft.get("reach") if isinstance(draft.get("reach"), dict) else {}).items()
                 if k != "max_percent"}
        if self.capped:
            reach["max_percent"] = self.reach_percent
        if reach:
            out["reach"] = reach
        exclude = draft.get("exclude") if isinstance(draft.get("exclude"), dict) else {}
        out["exclude"] = {**exclude, "seeds": self.exclude_seeds, "customers": self.exclude_customers,
                          "audiences": list(self.exclude_audiences or [])}
        if self.holdout_percent:
            out["holdout"] = {"percent": self.holdout_percent}
        ticked = [d for d in (self.destinations or []) if d in dict(DESTINATIONS) or d.startswith("dest:")]
        kept_dest: list = []
        for d in draft.get("destinations") or []:
            if destination_key(d) in ticked and destination_key(d) not in map(destination_key, kept_dest):
                kept_dest.append(d)
        seen = [destination_key(x) for x in kept_dest]
        out["destinations"] = kept_dest + [{"destination": d[5:]} if d.startswith("dest:") else d
                                           for d in ticked if d not in seen]
        return out

    def seed_set(self) -> dict:
        out: dict[str, Any] = {}
        if self.labels:
            out["labels"] = list(self.labels)
        if self.seed_ids:
            out["seed_ids"] = list(self.seed_ids)
        return out

    @classmethod
    def of_audience(cls, row: tuple) -> NewAudienceForm:
        """The form of an existing audience (``find_audience``'s row), to edit it."""
        _aid, name, description, seed_set, rules, *_rest = row
        rules, seed_set = rules or {}, seed_set or {}
        reach = (rules.get("reach") or {}).get("max_percent")
        exclude = rules.get("exclude") or {}
        return cls(description or "", name, json.dumps(rules), None, list(seed_set.get("labels") or []) or None,
                   float(reach) if reach is not None else 10.0,
                   int((rules.get("holdout") or {}).get("percent") or 0),
                   [destination_key(d) for d in rules.get("destinations", ["crm"])],
                   [str(i) for i in seed_set.get("seed_ids") or []] or None,
                   bool(exclude.get("seeds", True)), bool(exclude.get("customers", False)),
                   list(exclude.get("audiences") or []), reach is not None)


class FormValues(BaseModel):
    """The audience form as posted (new audience, edit, estimate)."""

    csrf: str = ""
    action: str = Field(default="read", pattern="^(read|create|save)$")
    description: str = Field(default="", max_length=2000)
    name: str = Field(default="", max_length=200)
    rules_json: str = Field(default="", max_length=100_000)
    drafted: bool = False
    keep: list[int] | None = None
    labels: list[str] | None = None
    reach_percent: float = 5.0
    capped: bool = False
    holdout_percent: int = 0
    destinations: list[str] | None = None
    seed_ids: list[str] | None = None
    exclude_seeds: bool = False
    exclude_customers: bool = False
    exclude_audiences: list[str] | None = None


def studio_router(connection: Connection, secret: str, *, secure_cookies: bool = False,
                  describe: Callable[[psycopg.Connection, uuid.UUID, str], Any] | None = None,
                  progress: Callable[[str, datetime], dict | None] | None = None,
                  ) -> tuple[APIRouter, StaticFiles]:
    """The studio's routes (mounted under /studio) and its static files, on the API's connection pool.
    ``describe(conn, tenant_id, text)`` reads a description into a draft (the API's, with its encoder and cache);
    ``progress(tenant slug, since)`` is the tenant's newest run since then, step by step (the orchestrator's)."""
    router = APIRouter(prefix="/studio", include_in_schema=False)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters.update(when=_when, percent=_percent)
    templates.env.globals.update(htmx=HTMX)

    def csrf_of(session_token: str) -> str:
        return hmac.new(secret.encode(), b"studio-csrf:" + session_token.encode(), hashlib.sha256).hexdigest()

    def person_of(request: Request) -> Person | None:
        token = request.cookies.get(COOKIE)
        if not token or len(token) > 100:
            return None
        with connection() as conn:
            row = conn.execute("select * from lookalike_studio_session_user(%s)", (hash_key(token),)).fetchone()
        if row is None:
            return None
        return Person(row[0], row[1], row[2], row[3], row[4], row[5], csrf_of(token))

    def person(request: Request) -> Person:
        found = person_of(request)
        if found is None:
            raise SignInRequired()
        return found

    def editor(request: Request, csrf: str) -> Person:
        """The signed-in person for a change: an editor, and the form's CSRF token is theirs."""
        p = person(request)
        if not hmac.compare_digest(csrf or "", p.csrf):
            raise StudioError(403, "This form has expired", "The page was open too long or came from elsewhere. "
                              "Go back, reload it and try again.")
        if not p.can_edit:
            raise StudioError(403, "Viewers can't change audiences",
                              "You can look at everything here; ask an editor of your team to make this change.")
        return p

    def page(request: Request, template: str, http_status: int = 200, **context: Any) -> HTMLResponse:
        return templates.TemplateResponse(request, template, context, status_code=http_status)

    def audience_of(conn: psycopg.Connection, p: Person, audience_id: uuid.UUID) -> tuple:
        try:
            return admin_ops.find_audience(conn, p.tenant_id, str(audience_id))
        except AdminError:
            raise StudioError(404, "No such audience", "There is no such audience in your workspace. It may have "
                              "been deleted.") from None

    # -- sign-in ---------------------------------------------------------------------------------------------
    @router.get("/sign-in", response_class=HTMLResponse)
    def sign_in_help(request: Request,
                     _next: Annotated[str | None, Query(alias="next", max_length=300)] = None) -> HTMLResponse:
        return page(request, "sign_in.html", person=None)

    @router.get("/sign-in/{link}")
    def sign_in(request: Request, link: str) -> Response:
        session = new_token()
        with connection() as conn:
            user = conn.execute("select lookalike_studio_sign_in(%s, %s, %s)",
                                (hash_key(link), hash_key(session), SESSION_SECONDS)).fetchone()[0]
        if user is None:
            return page(request, "sign_in.html", 400, person=None, expired=True)
        response = RedirectResponse("/studio", status_code=303)
        response.set_cookie(COOKIE, session, max_age=SESSION_SECONDS, httponly=True, samesite="lax",
                            secure=secure_cookies, path="/studio")
        return response

    @router.post("/sign-out")
    def sign_out(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
        token = request.cookies.get(COOKIE)
        p = person_of(request)
        if p is not None and hmac.compare_digest(csrf, p.csrf):
            with connection() as conn:
                conn.execute("select lookalike_studio_sign_out(%s)", (hash_key(token),))
        response = RedirectResponse("/studio/sign-in", status_code=303)
        response.delete_cookie(COOKIE, path="/studio")
        return response

    # -- audiences -------------------------------------------------------------------------------------------
    @router.get("", response_class=HTMLResponse)
    def audiences(request: Request, q: Annotated[str | None, Query(max_length=200)] = None,
                  status: Annotated[str | None, Query(pattern="^(draft|published|retired)?$")] = None,
                  deleted: Annotated[str | None, Query(max_length=300)] = None) -> HTMLResponse:
        p = person(request)
        with connection() as conn:
            rows = data.audiences(conn, p.tenant_id, API_ROLE, q=q, status=status or None)
        return page(request, "audiences.html", person=p, audiences=rows, q=q or "", status=status or "")

    @router.get("/audiences/{audience_id}", response_class=HTMLResponse)
    def audience(request: Request, audience_id: str,
                 sort: Annotated[str, Query(pattern="^(score|name|company|title|decile)$")] = "score",
                 page_no: Annotated[int, Query(alias="page", ge=1, le=100000)] = 1,
                 created: Annotated[int | None, Query()] = None, saved: Annotated[int | None, Query(ge=0, le=10**11)] = None,
                 exported: Annotated[str | None, Query(max_length=20)] = None) -> HTMLResponse:
        p = person(request)
        try:
            aid = uuid.UUID(audience_id)
        except ValueError:
            raise StudioError(404, "No such audience", "There is no such audience in your workspace.") from None
        with connection() as conn:
            audience_of(conn, p, aid)
            detail = data.audience_detail(conn, p.tenant_id, aid, API_ROLE)
            members = data.members(conn, p.tenant_id, aid, API_ROLE, sort=sort, page=page_no)
        charts = {}
        if detail.reach:
            charts["reach"] = line_chart([(r["audience_size"], float(r["conversion_rate"] or 0)) for r in detail.reach],
                                         x_label="audience size (best leads first)", y_label="conversion rate",
                                         title="Reach against conversion rate",
                                         marker=(detail.report.get("recommendation") or {}).get("max_size"))
        if detail.deciles:
            charts["deciles"] = bar_chart([(f"{d['decile']}", float(d["conversion_rate"] or 0))
                                           for d in sorted(detail.deciles, key=lambda d: -d["decile"])],
                                          title="Conversion rate by decile (10 = best tenth)",
                                          y_label="conversion rate")
        files = audience_files(get_settings().exports_dir, p.slug, aid)
        factors = data.influential_factors(detail.report)
        built = _when_of((detail.report.get("membership") or {}).get("refreshed_at"))
        # a new audience until its first build; an edited one (``saved``: when) until a build after the edit
        changed = datetime.fromtimestamp(saved, timezone.utc) if saved else None
        building = built is None or (changed is not None and built < changed)
        steps = None
        if building and progress is not None:
            try:
                steps = progress(p.slug, changed or _when_of(detail.report.get("updated_at"))
                                 or datetime.now(timezone.utc))
            except Exception as exc:  # the orchestrator's storage unreachable: the page still shows the rest
                log.warning("build progress of %s not read: %s", p.slug, exc)
                steps = None
        return page(request, "audience.html", person=p, a=detail.report, detail=detail, members=members,
                    created=bool(created), saved=bool(saved), exported=dict(DESTINATIONS).get(exported or ""),
                    factors=factors, files=files, formats=DESTINATIONS,
                    factor_chart=hbar_chart(factors, title="What the ranking model weighs most"),
                    building=building, steps=steps, step_words=step_words,
                    charts=charts, query=lambda **kw: urlencode({"sort": sort, "page": members.page, **kw}))

    def _status(request: Request, audience_id: uuid.UUID, csrf: str, status: str) -> Response:
        p = editor(request, csrf)
        with connection() as conn:
            a = audience_of(conn, p, audience_id)
            admin_ops.set_status(conn, p.tenant_id, str(a[0]), status)
        return RedirectResponse(f"/studio/audiences/{audience_id}", status_code=303)

    @router.post("/audiences/{audience_id}/publish")
    def publish(request: Request, audience_id: uuid.UUID, csrf: Annotated[str, Form()] = "") -> Response:
        return _status(request, audience_id, csrf, "published")

    @router.post("/audiences/{audience_id}/retire")
    def retire(request: Request, audience_id: uuid.UUID, csrf: Annotated[str, Form()] = "") -> Response:
        return _status(request, audience_id, csrf, "retired")

    @router.post("/audiences/{audience_id}/delete", response_model=None)
    def delete(request: Request, audience_id: uuid.UUID, csrf: Annotated[str, Form()] = "",
               confirm: Annotated[str, Form(max_length=300)] = "") -> Response:
        p = editor(request, csrf)
        with connection() as conn:
            a = audience_of(conn, p, audience_id)
            if confirm.strip() != a[1]:
                raise StudioError(400, "Not deleted", f"To delete this audience, type its name exactly: {a[1]}")
            admin_ops.delete_audience(conn, p.tenant_id, str(a[0]), get_settings().exports_dir)
        return RedirectResponse("/studio?" + urlencode({"deleted": a[1]}), status_code=303)

    @router.post("/audiences/{audience_id}/export", response_model=None)
    def export_now(request: Request, audience_id: uuid.UUID, csrf: Annotated[str, Form()] = "",
                   platform: Annotated[str, Form(max_length=20)] = "crm") -> Response:
        """Export the published audience to a platform's upload format now: a job the export sensor runs."""
        p = editor(request, csrf)
        with connection() as conn:
            a = audience_of(conn, p, audience_id)
            try:
                admin_ops.request_export(conn, p.tenant_id, str(a[0]), platform, API_ROLE)
            except AdminError as exc:
                raise StudioError(409 if isinstance(exc, admin_ops.NotPublished) else 400, "Not exported",
                                  str(exc).replace("audience ", "The audience ", 1)) from None
        return RedirectResponse(f"/studio/audiences/{a[0]}?" + urlencode({"exported": platform}), status_code=303)

    @router.get("/audiences/{audience_id}/files/{path:path}", response_model=None)
    def download(request: Request, audience_id: uuid.UUID, path: str) -> Response:
        """One of the audience's export files, as a download (any signed-in person of the tenant)."""
        p = person(request)
        with connection() as conn:
            a = audience_of(conn, p, audience_id)
        found = audience_file(get_settings().exports_dir, p.slug, a[0], path)
        if found is None:
            raise StudioError(404, "No such file", "This audience has no such export file (any more): a newer "
                              "export may have replaced it.")
        name = f"{audience_folder(a[1], a[0])}-{path.replace('/', '-')}"
        return FileResponse(found, media_type="text/csv", filename=name)

    # -- performance ------------------------------------------------------------------------------------------------
    @router.get("/performance", response_class=HTMLResponse)
    def performance(request: Request) -> HTMLResponse:
        p = person(request)
        with connection() as conn:
            perf = data.performance(conn, p.tenant_id, API_ROLE)
        charts = {aid: bar_chart([(str(d["decile"]), float(d["conversion_rate"] or 0)) for d in rows],
                                 title="Conversion rate by decile (10 = best tenth)", y_label="conversion rate",
                                 reference=perf.base_rate, height=180)
                  for aid, rows in perf.deciles.items() if any(d["conversion_rate"] for d in rows)}
        return page(request, "performance.html", person=p, perf=perf, charts=charts)

    # -- seeds ----------------------------------------------------------------------------------------------------
    def seeds_page(request: Request, p: Person, message: str | None = None, error: str | None = None,
                   http_status: int = 200) -> HTMLResponse:
        with connection() as conn:
            rows = admin_ops.list_seeds(conn, p.tenant_id)
        return page(request, "seeds.html", http_status, person=p, seeds=rows, labels=list(LABEL_WEIGHTS),
                    message=message, error=error)

    @router.get("/seeds", response_class=HTMLResponse)
    def seeds(request: Request) -> HTMLResponse:
        return seeds_page(request, person(request))

    @router.post("/seeds/add", response_class=HTMLResponse)
    async def seeds_add(request: Request) -> HTMLResponse:
        form = await request.form(max_files=1, max_fields=20)
        p = editor(request, str(form.get("csrf") or ""))
        label = str(form.get("label") or "manual")
        refs = [r for r in str(form.get("ids") or "").replace(",", "\n").split() if r.strip()]
        upload = form.get("file")
        if upload is not None and hasattr(upload, "read"):
            content = await upload.read(5 * 1024 * 1024 + 1)
            if len(content) > 5 * 1024 * 1024:
                return seeds_page(request, p, error="The file is over 5 MB: give the ids of the leads only.",
                                  http_status=400)
            try:
                refs += ids_in_csv(content)
            except ValueError as exc:
                return seeds_page(request, p, error=str(exc), http_status=400)
        if not refs:
            return seeds_page(request, p, error="Give the leads' ids (one per line), or a CSV file of them.",
                              http_status=400)
        with connection() as conn:
            try:
                ch = admin_ops.add_seeds(conn, p.tenant_id, refs[:10_000], label, source="studio")
            except AdminError as exc:
                return seeds_page(request, p, error=str(exc), http_status=400)
        note = f"{len(ch.added)} added as {label}, {len(ch.already)} already seeds"
        if ch.not_found:
            note += f"; not leads of yours: {', '.join(ch.not_found[:10])}" + ("…" if len(ch.not_found) > 10 else "")
        return seeds_page(request, p, message=note)

    @router.post("/seeds/remove", response_model=None)
    def seeds_remove(request: Request, csrf: Annotated[str, Form()] = "",
                     seed: Annotated[list[str] | None, Form()] = None) -> Response:
        p = editor(request, csrf)
        chosen = [s for s in (seed or []) if len(s) <= 100][:10_000]
        if not chosen:
            return seeds_page(request, p, error="Tick the seeds to remove.", http_status=400)
        with connection() as conn:
            n = admin_ops.remove_seeds(conn, p.tenant_id, chosen)
        return seeds_page(request, p, message=f"{n} seed(s) removed")

    # -- destinations ----------------------------------------------------------------------------------------
    def destinations_page(request: Request, p: Person, message: str | None = None, error: str | None = None,
                          error_platform: str | None = None, http_status: int = 200) -> HTMLResponse:
        with connection() as conn:
            rows = list_destinations(conn, p.tenant_id, API_ROLE)
        return page(request, "destinations.html", http_status, person=p, destinations=rows, message=message,
                    error=error, error_platform=error_platform, platforms=DESTINATION_FORMS,
                    platform_names=PLATFORM_NAMES)

    @router.get("/destinations", response_class=HTMLResponse)
    def destinations(request: Request) -> HTMLResponse:
        return destinations_page(request, person(request))

    @router.post("/destinations/add", response_class=HTMLResponse)
    async def destinations_add(request: Request) -> HTMLResponse:
        """A destination from its platform's form: options and credentials by their names (sealed at once)."""
        from lookalike_assets.domain.destinations import CREDENTIALS, OPTIONS
        from lookalike_assets.pipeline.destinations import add_destination

        form = await request.form(max_files=0, max_fields=30)
        p = editor(request, str(form.get("csrf") or ""))
        platform = str(form.get("platform") or "")
        if platform not in CREDENTIALS:
            return destinations_page(request, p, error="Choose a platform.", http_status=400)
        values = {k: str(v)[:4000].strip() for k, v in form.items() if isinstance(v, str)}
        options = {k: values.get(k) or None for k in OPTIONS[platform]}
        credentials = {k: values.get(k, "") for k in CREDENTIALS[platform]}
        with connection() as conn:
            try:
                add_destination(conn, p.tenant_id, values.get("name", ""), platform, options, credentials,
                                get_settings().secret_value())
            except AdminError as exc:
                return destinations_page(request, p, error=str(exc), error_platform=platform, http_status=400)
        return destinations_page(request, p, message=f"{values.get('name')} added. Name it under “Send to” in an "
                                 "audience; its next refresh sends the audience there.")

    @router.post("/destinations/{destination_id}/{action}", response_class=HTMLResponse)
    def destinations_change(request: Request, destination_id: uuid.UUID, action: str,
                            csrf: Annotated[str, Form()] = "",
                            confirm: Annotated[str, Form(max_length=100)] = "") -> HTMLResponse:
        from lookalike_assets.pipeline.destinations import find_destination, remove_destination, update_destination

        p = editor(request, csrf)
        if action not in ("remove", "resume"):
            raise StudioError(404, "No such action", "That is not something a destination can do.")
        with connection() as conn:
            try:
                d = find_destination(conn, p.tenant_id, str(destination_id), API_ROLE)
            except AdminError:
                raise StudioError(404, "No such destination", "There is no such destination in your "
                                  "workspace.") from None
            if action == "resume":
                update_destination(conn, p.tenant_id, str(d.destination_id), get_settings().secret_value(),
                                   resume=True)
                return destinations_page(request, p, message=f"{d.name} resumed: the next refresh syncs it.")
            if confirm.strip() != d.name:
                return destinations_page(request, p, error=f"To remove it, type its name exactly: {d.name}",
                                         http_status=400)
            remove_destination(conn, p.tenant_id, str(d.destination_id))
        return destinations_page(request, p, message=f"{d.name} removed (the platform keeps what it received).")

    # -- columns ----------------------------------------------------------------------------------------------
    def columns_page(request: Request, p: Person, message: str | None = None, error: str | None = None,
                     open_column: str | None = None, http_status: int = 200) -> HTMLResponse:
        from lookalike_assets.domain.meanings import UNITS, describe_unit
        from lookalike_assets.pipeline.describe import column_meanings

        with connection() as conn:
            meanings = column_meanings(conn, p.tenant_id, API_ROLE)
        rows = [{"column": m.field.removeprefix("attributes."), "label": m.label, "description": m.description,
                 "unit": m.unit, "unit_words": describe_unit(m), "scale": m.scale, "synonyms": list(m.synonyms),
                 "kind": m.kind, "corrected": not m.inferred} for m in meanings.values()]
        return page(request, "columns.html", http_status, person=p, columns=rows, units=UNITS, message=message,
                    error=error, open_column=open_column)

    @router.get("/columns", response_class=HTMLResponse)
    def columns(request: Request) -> HTMLResponse:
        return columns_page(request, person(request))

    @router.post("/columns/{column}", response_class=HTMLResponse)
    def columns_correct(request: Request, column: Annotated[str, PathParam(max_length=200)],
                        csrf: Annotated[str, Form()] = "", label: Annotated[str, Form(max_length=200)] = "",
                        description: Annotated[str, Form(max_length=200)] = "",
                        unit: Annotated[str, Form(max_length=40)] = "", scale: Annotated[str, Form(max_length=40)] = "",
                        synonyms: Annotated[str, Form(max_length=2000)] = "",
                        reset: Annotated[str, Form(max_length=5)] = "") -> HTMLResponse:
        """A person's correction of what a column means (or back to what was guessed)."""
        from lookalike_assets.domain.meanings import MeaningError
        from lookalike_assets.pipeline.describe import UnknownColumn, correct_column

        p = editor(request, csrf)
        correction: dict[str, Any] | None = None
        if not reset:
            correction = {"label": label.strip() or None, "description": description.strip() or None,
                          "unit": unit or None, "synonyms": [w.strip() for w in synonyms.split(",") if w.strip()]}
            if scale.strip():
                try:
                    correction["scale"] = float(scale.replace(",", ""))
                except ValueError:
                    return columns_page(request, p, error=f"{column}: the value of one stored unit must be a "
                                        f"number, not {scale!r}.", open_column=column, http_status=400)
        with connection() as conn:
            try:
                m = correct_column(conn, p.tenant_id, column, correction, API_ROLE)
            except UnknownColumn:
                raise StudioError(404, "No such column", "Your leads have no such column.") from None
            except MeaningError as exc:
                return columns_page(request, p, error=f"{column}: {exc}.", open_column=column, http_status=400)
        said = "back to what was guessed" if reset else f"read as “{m.label}”" + (f", in {m.unit}" if m.unit else "")
        return columns_page(request, p, message=f"{column}: {said}. The next description you write reads it so.")

    # -- leads ------------------------------------------------------------------------------------------------
    uploads = UploadStore(get_settings().uploads_dir)

    def leads_page(request: Request, p: Person, q: str = "", error: str | None = None, http_status: int = 200,
                   **context: Any) -> HTMLResponse:
        with connection() as conn:
            found = data.find_leads(conn, p.tenant_id, q, API_ROLE) if q else []
        return page(request, "leads.html", http_status, person=p, q=q, found=found, error=error,
                    max_mb=UPLOAD_BYTES // 2**20, **context)

    @router.get("/leads", response_class=HTMLResponse)
    def leads(request: Request, q: Annotated[str, Query(max_length=200)] = "") -> HTMLResponse:
        return leads_page(request, person(request), q.strip())

    @router.get("/leads/{lead_id}", response_class=HTMLResponse)
    def lead(request: Request, lead_id: str) -> HTMLResponse:
        p = person(request)
        try:
            lid = uuid.UUID(lead_id)
        except ValueError:
            lid = None
        with connection() as conn:
            card = data.lead_card(conn, p.tenant_id, lid, API_ROLE) if lid else None
        if card is None:
            raise StudioError(404, "No such lead", "There is no such lead in your workspace. It may have been "
                              "deleted.")
        return page(request, "lead.html", person=p, card=card, readable=data.readable)

    @router.post("/leads/upload", response_class=HTMLResponse)
    async def leads_upload(request: Request) -> HTMLResponse:
        """A file of leads, checked as its import would be (the dry run, rolled back): what each column was
        read as, the features it makes, the rows that would be left out. Nothing is stored in the database."""
        form = await request.form(max_files=1, max_fields=10, max_part_size=UPLOAD_BYTES + 1)
        p = editor(request, str(form.get("csrf") or ""))
        upload = form.get("file")
        if upload is None or not hasattr(upload, "read") or not upload.filename:
            return leads_page(request, p, error="Choose a CSV file of leads to upload.", http_status=400)
        content = await upload.read(UPLOAD_BYTES + 1)
        if len(content) > UPLOAD_BYTES:
            return leads_page(request, p, error=f"The file is over {UPLOAD_BYTES // 2**20} MB: split it, or "
                              "import it with `lookalike leads import`.", http_status=413)
        token = uploads.save(p.slug, content)
        report, error = await run_in_threadpool(import_file, p, token, True)
        if error is not None:
            uploads.discard(p.slug, token)
            return leads_page(request, p, error=error, http_status=400)
        return page(request, "upload.html", person=p, report=report, token=token, filename=upload.filename,
                    readable=data.readable)

    @router.post("/leads/import", response_class=HTMLResponse)
    def leads_import(request: Request, csrf: Annotated[str, Form()] = "",
                     token: Annotated[str, Form(max_length=40)] = "",
                     filename: Annotated[str, Form(max_length=300)] = "") -> HTMLResponse:
        """The previewed file imported for real (its good rows; the preview listed the others)."""
        p = editor(request, csrf)
        if uploads.path(p.slug, token) is None:
            return leads_page(request, p, error="That upload is no longer here (uploads are kept for a day): "
                              "upload the file again.", http_status=410)
        report, error = import_file(p, token, False)
        uploads.discard(p.slug, token)
        if error is not None:
            return leads_page(request, p, error=error, http_status=400)
        return page(request, "upload.html", person=p, report=report, token=None, filename=filename,
                    readable=data.readable)

    def import_file(p: Person, token: str, dry_run: bool) -> tuple[Any, str | None]:
        from lookalike_assets.pipeline.importer import LeadImportError, import_leads

        path = uploads.path(p.slug, token)
        if path is None:
            return None, "That upload is no longer here: upload the file again."
        try:
            with connection() as conn:
                return import_leads(conn, p.tenant_id, path, dry_run=dry_run), None
        except LeadImportError as exc:
            return None, str(exc).replace("--update-spec", "the command line's --update-spec")

    # -- a new audience from a sentence, or an edit of one ---------------------------------------------------
    def form_page(request: Request, p: Person, form: NewAudienceForm, draft: Any = None, error: str | None = None,
                  error_field: str | None = None, http_status: int = 200, editing: tuple | None = None
                  ) -> HTMLResponse:
        with connection() as conn:
            labels = data.seed_labels(conn, p.tenant_id, API_ROLE)
            seeds = data.seed_choices(conn, p.tenant_id, API_ROLE)
            suppressed = data.suppressed_count(conn, p.tenant_id, API_ROLE)
            others = sorted(name for aid, name in data.audience_names(conn, p.tenant_id, API_ROLE).items()
                            if editing is None or aid != editing[0])
            synced = [(f"dest:{d['name']}", f"{d['name']}: synced to {PLATFORM_NAMES.get(d['platform'], d['platform'])}"
                       + (" (paused)" if d["status"] == "paused" else ""))
                      for d in list_destinations(conn, p.tenant_id, API_ROLE)]
            estimate = estimate_of(conn, p, form) if form.rules_json or draft is not None else None
        filters = form.draft_rules().get("filters") or []
        return page(request, "new.html", http_status, person=p, form=form, draft=draft, labels=labels, seeds=seeds,
                    suppressed=suppressed, other_audiences=others,
                    filters=[(i, f, describe_filter(f)) for i, f in enumerate(filters)],
                    destinations=[*synced, *((v, f"{label}: a file to upload") for v, label in DESTINATIONS)],
                    estimate=estimate, error=error, error_field=error_field, editing=editing,
                    action=f"/studio/audiences/{editing[0]}/edit" if editing else "/studio/new")

    def estimate_of(conn: psycopg.Connection, p: Person, form: NewAudienceForm):
        from lookalike_assets.domain.rules import RuleError

        try:
            return data.reach_estimate(conn, p.tenant_id, form.rules(), API_ROLE)
        except (RuleError, ValueError) as exc:
            return str(exc)

    def parse_form(f: FormValues) -> NewAudienceForm:
        return NewAudienceForm(
            f.description.strip(), f.name.strip(), f.rules_json, (f.keep or []) if f.drafted else None, f.labels,
            min(max(f.reach_percent, 0.5), 100.0), min(max(f.holdout_percent, 0), 50), f.destinations,
            [i for i in (f.seed_ids or []) if len(i) <= 40][:10_000] or None,
            f.exclude_seeds if f.drafted else True, f.exclude_customers if f.drafted else False,
            [a for a in (f.exclude_audiences or []) if len(a) <= 200][:50], f.capped if f.drafted else True)

    def read_description(request: Request, p: Person, form: NewAudienceForm, editing: tuple | None) -> Response:
        """The sentence read into draft rules: the form again, with how each part was read."""
        if not form.description:
            return form_page(request, p, form, error="Describe the audience in a sentence first.",
                             error_field="description", http_status=400, editing=editing)
        if describe is None:
            return form_page(request, p, form, error="Reading descriptions is not available here.",
                             error_field="description", http_status=503, editing=editing)
        from lookalike_assets.domain.describe import DescriptionError
        from lookalike_assets.domain.rules import RuleError

        with connection() as conn:
            try:
                draft = describe(conn, p.tenant_id, form.description)
            except (DescriptionError, RuleError) as exc:
                return form_page(request, p, form, error=str(exc), error_field="description", http_status=400,
                                 editing=editing)
        rules = dict(draft.rules)
        if editing is not None:  # what the sentence does not say stays as the audience had it
            rules = {**form.draft_rules(), **{k: v for k, v in rules.items() if k not in ("destinations",)}}
        reach = (rules.get("reach") or {}).get("max_percent")
        exclude = rules.get("exclude") or {}
        form = NewAudienceForm(form.description, form.name or form.description[:80], json.dumps(rules), None,
                               list((draft.seed_set or {}).get("labels") or []) or form.labels,
                               float(reach) if reach else form.reach_percent, form.holdout_percent,
                               form.destinations or ["crm"], form.seed_ids,
                               bool(exclude.get("seeds", form.exclude_seeds)),
                               bool(exclude.get("customers", form.exclude_customers)),
                               list(exclude.get("audiences") or form.exclude_audiences or []),
                               True if reach else form.capped)
        return form_page(request, p, form, draft=draft, editing=editing)

    def save_error(exc: Exception) -> str:
        text = str(exc)
        return "name" if "exists already" in text or "audience name" in text else "rules"

    @router.get("/new", response_class=HTMLResponse)
    def new_audience(request: Request) -> HTMLResponse:
        p = person(request)
        return form_page(request, p, NewAudienceForm(destinations=["crm"]))

    @router.post("/new", response_model=None)
    def new_audience_post(request: Request, f: Annotated[FormValues, Form()]) -> Response:
        p = person(request)
        if not hmac.compare_digest(f.csrf, p.csrf):
            raise StudioError(403, "This form has expired", "Go back, reload the page and try again.")
        form = parse_form(f)
        if f.action == "read" or not form.rules_json:
            return read_description(request, p, form, None)
        p = editor(request, f.csrf)
        if not form.name:
            return form_page(request, p, form, error="Give the audience a name.", error_field="name",
                             http_status=400)
        from lookalike_assets.domain.audience import AudienceDefinitionError
        from lookalike_assets.domain.rules import RuleError

        with connection() as conn:
            try:
                aid = admin_ops.create_audience(conn, p.tenant_id, form.name, seed_set=form.seed_set(),
                                                rules=form.rules(), description=form.description or None)
            except (AdminError, AudienceDefinitionError, RuleError, ValueError) as exc:
                return form_page(request, p, form, error=str(exc), error_field=save_error(exc), http_status=400)
        return RedirectResponse(f"/studio/audiences/{aid}?created=1", status_code=303)

    @router.get("/audiences/{audience_id}/edit", response_class=HTMLResponse)
    def edit_audience(request: Request, audience_id: uuid.UUID) -> HTMLResponse:
        p = person(request)
        with connection() as conn:
            a = audience_of(conn, p, audience_id)
        return form_page(request, p, NewAudienceForm.of_audience(a), editing=a)

    @router.post("/audiences/{audience_id}/edit", response_model=None)
    def edit_audience_post(request: Request, audience_id: uuid.UUID, f: Annotated[FormValues, Form()]) -> Response:
        p = person(request)
        if not hmac.compare_digest(f.csrf, p.csrf):
            raise StudioError(403, "This form has expired", "Go back, reload the page and try again.")
        with connection() as conn:
            a = audience_of(conn, p, audience_id)
        form = parse_form(f)
        if f.action == "read":
            return read_description(request, p, form, a)
        p = editor(request, f.csrf)
        if not form.name:
            return form_page(request, p, form, error="Give the audience a name.", error_field="name",
                             http_status=400, editing=a)
        from lookalike_assets.domain.audience import AudienceDefinitionError
        from lookalike_assets.domain.rules import RuleError

        with connection() as conn:
            try:
                admin_ops.edit_audience(conn, p.tenant_id, str(a[0]), name=form.name, seed_set=form.seed_set(),
                                        rules=form.rules(), description=form.description or None)
            except (AdminError, AudienceDefinitionError, RuleError, ValueError) as exc:
                return form_page(request, p, form, error=str(exc), error_field=save_error(exc), http_status=400,
                                 editing=a)
        return RedirectResponse(f"/studio/audiences/{a[0]}?saved={int(datetime.now(timezone.utc).timestamp())}",
                                status_code=303)

    @router.post("/new/estimate", response_class=HTMLResponse)
    def new_estimate(request: Request, f: Annotated[FormValues, Form()]) -> HTMLResponse:
        p = person(request)
        if not hmac.compare_digest(f.csrf, p.csrf):
            raise StudioError(403, "This form has expired", "Reload the page and try again.")
        form = parse_form(f.model_copy(update={"drafted": True}))
        with connection() as conn:
            estimate = estimate_of(conn, p, form)
        return page(request, "estimate.html", estimate=estimate, form=form)

    return router, StaticFiles(directory=str(HERE / "static"))


def ids_in_csv(content: bytes) -> list[str]:
    """The lead ids of an uploaded CSV: its id column (``external_id``, ``id``, ``lead_id``…), else its only
    column."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError("The file is not UTF-8 text: save it as CSV (UTF-8) and try again.") from None
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return []
    header = [normalize_name(h) for h in rows[0]]
    col = next((i for i, h in enumerate(header) if h in NAMES["id"]), 0 if len(header) == 1 else None)
    if col is None:
        raise ValueError("The file has no id column (external_id, id, lead_id, crm_id…): which column holds the ids?")
    start = 1 if header[col] in NAMES["id"] else 0
    return [r[col].strip() for r in rows[start:] if len(r) > col and r[col].strip()]


OPS = {"in": "is", "not_in": "is not", "eq": "is", "ne": "is not", "gt": "more than", "gte": "at least",
       "lt": "less than", "lte": "at most", "between": "between", "contains": "contains", "present": "is known",
       "absent": "is unknown", "within_last": "within the last", "not_within_last": "not within the last"}


def describe_filter(f: dict) -> str:
    """A rule's filter in words: "industry is software or fintech", "company size more than 200"."""
    fld = data.readable(str(f.get("field", "")))
    op = OPS.get(str(f.get("op")), str(f.get("op")))
    if "values" in f:
        value = " or ".join(str(v) for v in f["values"])
    elif f.get("op") == "between":
        value = f"{f.get('min')} and {f.get('max')}"
    elif "value" in f:
        value = str(f["value"]).replace("P", "").replace("D", " days").replace("M", " months") \
            if str(f.get("op", "")).endswith("within_last") else str(f["value"])
    else:
        value = ""
    return f"{fld} {op} {value}".strip()


def install(app, connection: Connection, secret: str, *, secure_cookies: bool = False,
            describe: Callable[[psycopg.Connection, uuid.UUID, str], Any] | None = None,
            progress: Callable[[str, datetime], dict | None] | None = None) -> None:
    """Mount the studio on the API's FastAPI app: its routes, static files and the handlers of its errors."""
    from fastapi.responses import PlainTextResponse

    router, static = studio_router(connection, secret, secure_cookies=secure_cookies, describe=describe,
                                   progress=progress)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals.update(htmx=HTMX)
    app.mount("/studio/static", static, name="studio-static")
    app.include_router(router)

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, _exc: SignInRequired):
        if request.method != "GET":
            return PlainTextResponse("sign in first", status_code=401)
        return RedirectResponse("/studio/sign-in?" + urlencode({"next": request.url.path}), status_code=303)

    @app.exception_handler(StudioError)
    async def _studio_error(request: Request, exc: StudioError):
        return templates.TemplateResponse(request, "error.html", {"title": exc.title, "message": exc.message,
                                                                  "person": None}, status_code=exc.status)
