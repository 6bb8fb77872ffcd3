"""Local stand-ins of the ad platforms' documented APIs, for the destination tests (the real platforms cannot be
reached from here). Each implements the contract lookalike relies on (paths, authentication, batch limits, error
bodies, throttling) and records what it received."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class MetaState:
    token: str
    account: str = "act_1001"
    audiences: dict[str, dict] = field(default_factory=dict)
    calls: list[tuple[str, str, int]] = field(default_factory=list)  # (method, path, rows)
    authorizations: list[str] = field(default_factory=list)
    fail_next: list[tuple[int, dict, dict]] = field(default_factory=list)  # (status, body, headers) to answer
    lock: threading.Lock = field(default_factory=threading.Lock)

    def members(self, audience_id: str) -> set[str]:
        return set(self.audiences[audience_id]["members"])


def meta_error(status: int, message: str, code: int, **extra) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": "OAuthException", "code": code,
                                   "fbtrace_id": "standin", **extra}}, status_code=status)


def meta_standin(token: str, account: str = "act_1001", max_rows: int = 10_000) -> tuple[FastAPI, MetaState]:
    """Meta's Marketing API as lookalike uses it: the ad account (GET /act_<id>), customer-list custom audiences
    (POST /act_<id>/customaudiences) and their users (POST and DELETE /<id>/users with a ``payload`` of ``schema``
    and ``data``, at most 10,000 rows, hashed values only), the token as a Bearer header."""
    state = MetaState(token, account)
    app = FastAPI()

    def guard(request: Request) -> JSONResponse | None:
        auth = request.headers.get("authorization", "")
        state.authorizations.append(auth)
        if "access_token" in request.query_params:
            return meta_error(400, "lookalike must not put the token in the URL (stand-in rule)", 100)
        if auth != f"Bearer {state.token}":
            return meta_error(400, "Invalid OAuth access token - Cannot parse access token", 190)
        if state.fail_next:
            status, body, headers = state.fail_next.pop(0)
            return JSONResponse(body, status_code=status, headers=headers)
        return None

    @app.get("/{version}/{account}")
    async def ad_account(version: str, account: str, request: Request):
        if (bad := guard(request)) is not None:
            return bad
        if account != state.account:
            return meta_error(400, f"Unsupported get request. Object with ID '{account}' does not exist", 100)
        return {"id": account, "name": "Stand-in Ads", "account_status": 1}

    @app.post("/{version}/{account}/customaudiences")
    async def create(version: str, account: str, request: Request):
        if (bad := guard(request)) is not None:
            return bad
        form = await request.form()
        if account != state.account:
            return meta_error(400, "Invalid ad account", 100)
        if form.get("subtype") != "CUSTOM" or not form.get("customer_file_source") or not form.get("name"):
            return meta_error(400, "Invalid parameter: name, subtype=CUSTOM and customer_file_source are required",
                              100)
        with state.lock:
            aid = str(23850000000000 + len(state.audiences) + 1)
            state.audiences[aid] = {"name": form["name"], "members": set()}
        state.calls.append(("POST", f"/{account}/customaudiences", 0))
        return {"id": aid}

    async def users(method: str, audience_id: str, request: Request):
        if (bad := guard(request)) is not None:
            return bad
        if audience_id not in state.audiences:
            return meta_error(400, f"Unsupported request. Object with ID '{audience_id}' does not exist", 100)
        form = await request.form()
        try:
            payload = json.loads(form.get("payload") or "")
        except ValueError:
            return meta_error(400, "Invalid parameter: payload is not JSON", 100)
        schema, data = payload.get("schema"), payload.get("data")
        if schema not in ("EMAIL_SHA256", ["EMAIL_SHA256"]) or not isinstance(data, list):
            return meta_error(400, "Invalid parameter: schema must be EMAIL_SHA256 here", 100)
        if len(data) > max_rows:
            return meta_error(400, f"Too many records: at most {max_rows} a request", 100, error_subcode=1870053)
        values = [row[0] if isinstance(row, list) else row for row in data]
        valid = [v for v in values if isinstance(v, str) and HEX64.match(v)]
        with state.lock:
            target = state.audiences[audience_id]["members"]
            (target.update if method == "POST" else target.difference_update)(valid)
        state.calls.append((method, f"/{audience_id}/users", len(values)))
        return {"audience_id": audience_id, "session_id": str(abs(hash(tuple(values))) % 10**12),
                "num_received": len(values), "num_invalid_entries": len(values) - len(valid),
                "invalid_entry_samples": {}}

    @app.post("/{version}/{audience_id}/users")
    async def add_users(version: str, audience_id: str, request: Request):
        return await users("POST", audience_id, request)

    @app.delete("/{version}/{audience_id}/users")
    async def remove_users(version: str, audience_id: str, request: Request):
        return await users("DELETE", audience_id, request)

    return app, state


@dataclass
class WebhookState:
    secret: str
    batches: list[dict] = field(default_factory=list)
    refused: int = 0


def webhook_standin(secret: str) -> tuple[FastAPI, WebhookState]:
    """A tenant's endpoint that verifies lookalike's signature (``t=<time>,v1=<HMAC-SHA256 of "<t>.<body>">``)."""
    state = WebhookState(secret)
    app = FastAPI()

    @app.post("/hook")
    async def hook(request: Request):
        body = await request.body()
        parts = dict(p.split("=", 1) for p in request.headers.get("x-lookalike-signature", "").split(",") if "=" in p)
        expected = hmac.new(secret.encode(), f"{parts.get('t')}.".encode() + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(parts.get("v1", ""), expected):
            state.refused += 1
            return JSONResponse({"error": "bad signature"}, status_code=401)
        message = json.loads(body)
        state.batches.append(message)
        return {"received": len(message.get("members") or [])}

    return app, state


@dataclass
class LinkedInState:
    token: str
    account: str = "512345678"
    segments: dict[str, dict] = field(default_factory=dict)
    calls: list[tuple[str, str, int]] = field(default_factory=list)
    fail_next: list[tuple[int, dict, dict]] = field(default_factory=list)

    def members(self, segment: str) -> set[str]:
        return set(self.segments[segment]["members"])


def linkedin_standin(token: str, account: str = "512345678", max_elements: int = 5_000
                     ) -> tuple[FastAPI, LinkedInState]:
    """LinkedIn's Marketing API (Rest.li 2.0) as lookalike uses it: the ad account (GET /rest/adAccounts/<id>),
    DMP segments (POST /rest/dmpSegments answers 201 with the id in ``x-restli-id``) and their users
    (POST /rest/dmpSegments/<id>/users with ``X-RestLi-Method: BATCH_CREATE``, elements of ADD or REMOVE of
    SHA256_EMAIL, at most 5,000), every request with a Bearer token, ``LinkedIn-Version`` and
    ``X-Restli-Protocol-Version: 2.0.0``."""
    state = LinkedInState(token, account)
    app = FastAPI()

    def guard(request: Request) -> JSONResponse | None:
        if request.headers.get("authorization") != f"Bearer {state.token}":
            return JSONResponse({"status": 401, "serviceErrorCode": 65600, "code": "INVALID_ACCESS_TOKEN",
                                 "message": "Invalid access token"}, status_code=401)
        if request.headers.get("x-restli-protocol-version") != "2.0.0" or \
                not re.fullmatch(r"\d{6}", request.headers.get("linkedin-version", "")):
            return JSONResponse({"status": 400, "message": "missing LinkedIn-Version or protocol header"},
                                status_code=400)
        if state.fail_next:
            status, body, headers = state.fail_next.pop(0)
            return JSONResponse(body, status_code=status, headers=headers)
        return None

    @app.get("/rest/adAccounts/{account}")
    async def ad_account(account: str, request: Request):
        if (bad := guard(request)) is not None:
            return bad
        if account != state.account:
            return JSONResponse({"status": 404, "message": "Not found"}, status_code=404)
        return {"id": int(account), "name": "Stand-in Campaigns", "status": "ACTIVE"}

    @app.post("/rest/dmpSegments")
    async def create(request: Request):
        if (bad := guard(request)) is not None:
            return bad
        body = await request.json()
        if body.get("account") != f"urn:li:sponsoredAccount:{state.account}" or body.get("type") != "USER" \
                or not body.get("name") or not body.get("destinations"):
            return JSONResponse({"status": 422, "message": "account, type USER, name and destinations required"},
                                status_code=422)
        sid = str(990000 + len(state.segments) + 1)
        state.segments[sid] = {"name": body["name"], "members": set()}
        state.calls.append(("CREATE", "/dmpSegments", 0))
        return JSONResponse(None, status_code=201, headers={"x-restli-id": sid})

    @app.post("/rest/dmpSegments/{segment}/users")
    async def users(segment: str, request: Request):
        if (bad := guard(request)) is not None:
            return bad
        if request.headers.get("x-restli-method") != "BATCH_CREATE":
            return JSONResponse({"status": 400, "message": "X-RestLi-Method: BATCH_CREATE expected"},
                                status_code=400)
        if segment not in state.segments:
            return JSONResponse({"status": 404, "message": "segment not found"}, status_code=404)
        elements = (await request.json()).get("elements") or []
        if len(elements) > max_elements:
            return JSONResponse({"status": 400, "message": f"at most {max_elements} elements"}, status_code=400)
        statuses = []
        target = state.segments[segment]["members"]
        for e in elements:
            ids = e.get("userIds") or []
            ok = e.get("action") in ("ADD", "REMOVE") and ids and all(
                i.get("idType") == "SHA256_EMAIL" and HEX64.match(str(i.get("idValue"))) for i in ids)
            if ok:
                for i in ids:
                    (target.add if e["action"] == "ADD" else target.discard)(i["idValue"])
            statuses.append({"status": 201 if ok else 400})
        state.calls.append(("BATCH_CREATE", f"/dmpSegments/{segment}/users", len(elements)))
        return {"elements": statuses}

    return app, state


@dataclass
class GoogleState:
    developer_token: str
    client_id: str
    client_secret: str
    refresh_token: str
    customer: str = "1234567890"
    issued: list[str] = field(default_factory=list)
    user_lists: dict[str, set] = field(default_factory=dict)
    jobs: dict[str, dict] = field(default_factory=dict)
    calls: list[tuple[str, int]] = field(default_factory=list)
    fail_next: list[tuple[int, dict, dict]] = field(default_factory=list)
    polls: int = 0


def google_standin(developer_token: str, client_id: str, client_secret: str, refresh_token: str,
                   customer: str = "1234567890") -> tuple[FastAPI, GoogleState]:
    """Google's OAuth token endpoint (refresh_token grant) and the Google Ads API's REST interface as lookalike uses
    it: googleAds:search, userLists:mutate (a CRM-based list), offlineUserDataJobs:create, :addOperations
    (create/remove of userIdentifiers with hashedEmail, at most 100,000 operations, partial failures), :run (a
    long-running operation, done at its first poll), and errors in Google's JSON shape."""
    state = GoogleState(developer_token, client_id, client_secret, refresh_token, customer)
    app = FastAPI()

    def gerr(code: int, status: str, message: str) -> JSONResponse:
        return JSONResponse({"error": {"code": code, "status": status, "message": message}}, status_code=code)

    @app.post("/token")
    async def token(request: Request):
        form = await request.form()
        if form.get("grant_type") != "refresh_token" or form.get("client_id") != state.client_id \
                or form.get("client_secret") != state.client_secret or form.get("refresh_token") != state.refresh_token:
            return JSONResponse({"error": "invalid_grant", "error_description": "Bad Request"}, status_code=400)
        t = f"ya29.standin-{len(state.issued)}"
        state.issued.append(t)
        return {"access_token": t, "expires_in": 3599, "token_type": "Bearer"}

    def guard(request: Request, customer: str | None) -> JSONResponse | None:
        if request.headers.get("developer-token") != state.developer_token:
            return gerr(401, "UNAUTHENTICATED", "The developer token is not valid.")
        if request.headers.get("authorization", "").removeprefix("Bearer ") not in state.issued:
            return gerr(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        if customer is not None and customer != state.customer:
            return gerr(403, "PERMISSION_DENIED", "The caller does not have permission")
        if state.fail_next:
            status, body, headers = state.fail_next.pop(0)
            return JSONResponse(body, status_code=status, headers=headers)
        return None

    @app.post("/{version}/customers/{customer}/googleAds:search")
    async def search(version: str, customer: str, request: Request):
        if (bad := guard(request, customer)) is not None:
            return bad
        return {"results": [{"customer": {"resourceName": f"customers/{customer}", "id": customer,
                                          "descriptiveName": "Stand-in Ads"}}]}

    @app.post("/{version}/customers/{customer}/userLists:mutate")
    async def user_lists(version: str, customer: str, request: Request):
        if (bad := guard(request, customer)) is not None:
            return bad
        ops = (await request.json()).get("operations") or []
        create = (ops[0] if ops else {}).get("create") or {}
        if (create.get("crmBasedUserList") or {}).get("uploadKeyType") != "CONTACT_INFO" or not create.get("name"):
            return gerr(400, "INVALID_ARGUMENT", "a CRM-based user list with uploadKeyType CONTACT_INFO is required")
        name = f"customers/{customer}/userLists/{7000 + len(state.user_lists) + 1}"
        state.user_lists[name] = set()
        return {"results": [{"resourceName": name}]}

    @app.post("/{version}/customers/{customer}/offlineUserDataJobs:create")
    async def create_job(version: str, customer: str, request: Request):
        if (bad := guard(request, customer)) is not None:
            return bad
        job = (await request.json()).get("job") or {}
        user_list = (job.get("customerMatchUserListMetadata") or {}).get("userList")
        if job.get("type") != "CUSTOMER_MATCH_USER_LIST" or user_list not in state.user_lists:
            return gerr(400, "INVALID_ARGUMENT", "type CUSTOMER_MATCH_USER_LIST and an existing userList required")
        name = f"customers/{customer}/offlineUserDataJobs/{9000 + len(state.jobs) + 1}"
        state.jobs[name] = {"list": user_list, "ops": [], "status": "PENDING"}
        return {"resourceName": name}

    @app.post("/{version}/customers/{customer}/offlineUserDataJobs/{job}:addOperations")
    async def add_operations(version: str, customer: str, job: str, request: Request):
        if (bad := guard(request, customer)) is not None:
            return bad
        name = f"customers/{customer}/offlineUserDataJobs/{job}"
        body = await request.json()
        ops = body.get("operations") or []
        if len(ops) > 100_000:
            return gerr(400, "INVALID_ARGUMENT", "too many operations")
        bad_ops = []
        for i, op in enumerate(ops):
            kind = "create" if "create" in op else "remove" if "remove" in op else None
            ids = (op.get(kind) or {}).get("userIdentifiers") or [] if kind else []
            if kind and ids and all(HEX64.match(str(x.get("hashedEmail"))) for x in ids):
                state.jobs[name]["ops"].append((kind, [x["hashedEmail"] for x in ids]))
            else:
                bad_ops.append(i)
        state.calls.append(("addOperations", len(ops)))
        if bad_ops and not body.get("enablePartialFailure"):
            return gerr(400, "INVALID_ARGUMENT", "invalid operations")
        return {"partialFailureError": {"code": 3, "message": "some operations failed",
                                        "details": [{"index": i} for i in bad_ops]}} if bad_ops else {}

    @app.post("/{version}/customers/{customer}/offlineUserDataJobs/{job}:run")
    async def run(version: str, customer: str, job: str, request: Request):
        if (bad := guard(request, customer)) is not None:
            return bad
        name = f"customers/{customer}/offlineUserDataJobs/{job}"
        j = state.jobs[name]
        target = state.user_lists[j["list"]]
        for kind, hashes in j["ops"]:
            (target.update if kind == "create" else target.difference_update)(hashes)
        j["status"] = "SUCCESS"
        return {"name": f"customers/{customer}/operations/op-{job}", "done": False}

    @app.get("/{version}/customers/{customer}/operations/{op}")
    async def operation(version: str, customer: str, op: str, request: Request):
        if (bad := guard(request, customer)) is not None:
            return bad
        state.polls += 1
        return {"name": f"customers/{customer}/operations/{op}", "done": True, "response": {}}

    return app, state
