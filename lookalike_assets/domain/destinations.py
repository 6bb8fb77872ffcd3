"""Destinations: the ad platforms (and a webhook) an audience is synced to, through their documented APIs.

A connector turns members into the identifiers its platform matches on (normalized and hashed as the platform
specifies), keys each member by one of them (what lookalike remembers having sent), creates the platform's
audience once, and adds and removes members in batches no larger than the platform accepts. Errors say whether a
retry may help (HTTP 429 and 5xx, the platform's throttling codes) and how long the platform asked to wait.

Credentials arrive already unsealed (``credentials``) and never appear in an error, a log line or a report: every
message a connector raises is built from status codes and the platform's error text, with any credential value
masked.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from lookalike_assets.domain.exports import norm_email, sha256

PLATFORMS = ("meta", "google", "linkedin", "webhook", "s3")
AVAILABLE = PLATFORMS
META_API = "https://graph.facebook.com"
META_VERSION = "v25.0"
# Meta's throttling error codes: application, user, ad account and custom audience request limits
META_THROTTLING = {4, 17, 32, 613, 80003, 80004}
GOOGLE_ADS_API = "https://googleads.googleapis.com"
GOOGLE_ADS_VERSION = "v26"
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
LINKEDIN_API = "https://api.linkedin.com/rest"
LINKEDIN_VERSION = "202611"  # LinkedIn-Version: the Marketing API's monthly version (YYYYMM)


class DestinationError(Exception):
    """A platform refused or failed a call. ``transient``: a retry may help (after ``retry_after`` seconds when the
    platform said so)."""

    def __init__(self, message: str, *, transient: bool = False, retry_after: float | None = None,
                 status: int | None = None):
        super().__init__(message)
        self.transient, self.retry_after, self.status = transient, retry_after, status


@dataclass
class BatchResult:
    received: int | None = None  # what the platform says it received
    invalid: int | None = None  # entries it refused as invalid
    report: dict[str, Any] = field(default_factory=dict)  # counts and statuses only, never identifiers


class Connector(Protocol):
    platform: str
    max_batch: int

    def check(self) -> str:
        """A real authenticated call; returns what it reached, in words ("ad account act_1 (Acme)")."""

    def keyed(self, members: Sequence[Mapping[str, Any]]) -> dict[str, dict]:
        """Member key -> what is sent for the member; members the platform cannot match are left out."""

    def row(self, key: str, member: Mapping[str, Any] | None = None) -> dict:
        """What is sent for a member key: with the member when it is known, from the key alone for a removal
        (the person may be gone from the tenant)."""

    def ensure_audience(self, name: str, description: str) -> str:
        """Create the platform's audience for one of ours; returns its id on the platform."""

    def add(self, audience: str, rows: list[dict]) -> BatchResult: ...

    def remove(self, audience: str, rows: list[dict]) -> BatchResult: ...


def _mask(text: str, secrets: Sequence[str]) -> str:
    for s in secrets:
        if s and len(s) >= 4:
            text = text.replace(s, "***")
    return text


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def email_sha256(member: Mapping[str, Any]) -> str | None:
    """SHA-256 of the trimmed, lower-cased email (Meta's EMAIL_SHA256), or None without a valid email."""
    e = norm_email(member.get("email"))
    return sha256(e) if e else None


def keyed_by_email(members: Sequence[Mapping[str, Any]], row, *, google: bool = False) -> dict[str, dict]:
    """Members keyed by SHA-256 of their normalized email (Google's normalization with ``google``), each as
    ``row(key, member)``; members without a valid email are left out."""
    out = {}
    for m in members:
        e = norm_email(m.get("email"), google=google)
        if e:
            key = sha256(e)
            out[key] = row(key, m)
    return out


class MetaConnector:
    """Meta's customer-list custom audiences (Marketing API): ``POST /act_<id>/customaudiences`` creates one,
    ``POST`` and ``DELETE /<audience>/users`` add and remove members, at most 10,000 a request, each a row of
    ``EMAIL_SHA256``. The token travels in the Authorization header, never in a URL."""

    platform = "meta"
    max_batch = 10_000

    def __init__(self, options: Mapping[str, Any], credentials: Mapping[str, str], *, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None):
        account = str(options.get("ad_account") or "")
        if not account:
            raise DestinationError("a Meta destination needs its ad account (--ad-account act_<id>)")
        self.account = account if account.startswith("act_") else f"act_{account}"
        self.token = credentials.get("access_token") or ""
        if not self.token:
            raise DestinationError("a Meta destination needs an access token (--token-file)")
        base = str(options.get("api_base_url") or META_API).rstrip("/")
        self.client = httpx.Client(base_url=f"{base}/{options.get('api_version') or META_VERSION}", timeout=timeout,
                                   headers={"Authorization": f"Bearer {self.token}"}, transport=transport)

    def _call(self, method: str, path: str, **kw) -> dict:
        try:
            r = self.client.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise DestinationError(f"Meta could not be reached: {type(exc).__name__}", transient=True) from None
        try:
            body = r.json()
        except ValueError:
            body = {}
        if r.status_code < 400 and "error" not in body:
            return body
        err = body.get("error") if isinstance(body.get("error"), dict) else {}
        code = err.get("code")
        message = _mask(str(err.get("error_user_msg") or err.get("message") or r.reason_phrase), [self.token])
        transient = r.status_code == 429 or r.status_code >= 500 or code in META_THROTTLING or \
            bool(err.get("is_transient"))
        raise DestinationError(f"Meta answered {r.status_code}" + (f" (code {code})" if code else "")
                               + f": {message}", transient=transient, retry_after=retry_after(r),
                               status=r.status_code)

    def check(self) -> str:
        body = self._call("GET", f"/{self.account}", params={"fields": "name,account_status"})
        return f"ad account {self.account}" + (f" ({body['name']})" if body.get("name") else "")

    def keyed(self, members: Sequence[Mapping[str, Any]]) -> dict[str, dict]:
        return keyed_by_email(members, self.row)

    def row(self, key: str, member: Mapping[str, Any] | None = None) -> dict:
        return {"EMAIL_SHA256": key}

    def ensure_audience(self, name: str, description: str) -> str:
        body = self._call("POST", f"/{self.account}/customaudiences", data={
            "name": name[:200], "subtype": "CUSTOM", "description": description[:500],
            "customer_file_source": "USER_PROVIDED_ONLY"})
        if not body.get("id"):
            raise DestinationError("Meta created no audience (no id in its answer)")
        return str(body["id"])

    def _users(self, method: str, audience: str, rows: list[dict]) -> BatchResult:
        payload = {"schema": ["EMAIL_SHA256"], "data": [[r["EMAIL_SHA256"]] for r in rows]}
        body = self._call(method, f"/{audience}/users", data={"payload": json.dumps(payload)})
        received, invalid = body.get("num_received"), body.get("num_invalid_entries")
        return BatchResult(int(received) if received is not None else None,
                           int(invalid) if invalid is not None else None,
                           {"session_id": body.get("session_id")} if body.get("session_id") else {})

    def add(self, audience: str, rows: list[dict]) -> BatchResult:
        return self._users("POST", audience, rows)

    def remove(self, audience: str, rows: list[dict]) -> BatchResult:
        return self._users("DELETE", audience, rows)


class GoogleAdsConnector:
    """Google Ads Customer Match over the Google Ads API's documented REST interface: a CRM-based user list
    created once (``customers/<id>/userLists:mutate``), then for each batch an offline user data job
    (``offlineUserDataJobs:create`` of type ``CUSTOMER_MATCH_USER_LIST``), its operations (``:addOperations``,
    ``create`` or ``remove`` of ``userIdentifiers`` ``hashedEmail``: SHA-256 of the normalized email, dots of
    gmail.com addresses removed, at most 10,000 a request), ``:run``, and its long-running operation polled until
    done. An access token comes from the OAuth refresh token; every call carries the developer token."""

    platform = "google"
    max_batch = 10_000

    def __init__(self, options: Mapping[str, Any], credentials: Mapping[str, str], *, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None, poll_seconds: float = 0.25, max_polls: int = 60):
        self.customer = str(options.get("customer_id") or "").replace("-", "")
        if not self.customer.isdigit():
            raise DestinationError("a Google Ads destination needs its customer id (--customer-id 123-456-7890)")
        self.creds = {k: credentials.get(k) or "" for k in CREDENTIALS["google"]}
        missing = [k for k, v in self.creds.items() if not v]
        if missing:
            raise DestinationError(f"a Google Ads destination needs: {', '.join(missing)}")
        base = str(options.get("api_base_url") or GOOGLE_ADS_API).rstrip("/")
        self.token_url = str(options.get("oauth_token_url") or GOOGLE_TOKEN_URL)
        self.version = str(options.get("api_version") or GOOGLE_ADS_VERSION)
        headers = {"developer-token": self.creds["developer_token"]}
        if options.get("login_customer_id"):
            headers["login-customer-id"] = str(options["login_customer_id"]).replace("-", "")
        self.client = httpx.Client(base_url=f"{base}/{self.version}", timeout=timeout, transport=transport,
                                   headers=headers)
        self.oauth = httpx.Client(timeout=timeout, transport=transport)
        self.access_token: str | None = None
        self.poll_seconds, self.max_polls = poll_seconds, max_polls
        self.sleep = time.sleep

    def _secrets(self) -> list[str]:
        return [*self.creds.values(), self.access_token or ""]

    def _token(self) -> str:
        if self.access_token is None:
            try:
                r = self.oauth.post(self.token_url, data={
                    "grant_type": "refresh_token", "client_id": self.creds["client_id"],
                    "client_secret": self.creds["client_secret"], "refresh_token": self.creds["refresh_token"]})
            except httpx.HTTPError as exc:
                raise DestinationError(f"Google's OAuth could not be reached: {type(exc).__name__}",
                                       transient=True) from None
            if r.status_code >= 400:
                try:
                    err = r.json()
                except ValueError:
                    err = {}
                raise DestinationError(f"Google's OAuth answered {r.status_code}: "
                                       + _mask(str(err.get("error_description") or err.get("error") or ""),
                                               self._secrets()),
                                       transient=r.status_code >= 500, status=r.status_code)
            self.access_token = r.json().get("access_token")
        return self.access_token or ""

    def _call(self, method: str, path: str, **kw) -> dict:
        for attempt in (1, 2):
            try:
                r = self.client.request(method, path, headers={"Authorization": f"Bearer {self._token()}"}, **kw)
            except httpx.HTTPError as exc:
                raise DestinationError(f"Google Ads could not be reached: {type(exc).__name__}",
                                       transient=True) from None
            if r.status_code == 401 and attempt == 1:  # an expired access token: one refresh
                self.access_token = None
                continue
            break
        try:
            body = r.json()
        except ValueError:
            body = {}
        if r.status_code < 400:
            return body
        err = body.get("error") if isinstance(body.get("error"), dict) else {}
        delay = None
        for d in err.get("details") or []:
            if isinstance(d, dict) and d.get("retryDelay"):
                try:
                    delay = float(str(d["retryDelay"]).rstrip("s"))
                except ValueError:
                    pass
        raise DestinationError(f"Google Ads answered {r.status_code} ({err.get('status')}): "
                               + _mask(str(err.get("message") or r.reason_phrase), self._secrets()),
                               transient=r.status_code == 429 or r.status_code >= 500
                               or err.get("status") in ("RESOURCE_EXHAUSTED", "UNAVAILABLE"),
                               retry_after=retry_after(r) if retry_after(r) is not None else delay,
                               status=r.status_code)

    def check(self) -> str:
        body = self._call("POST", f"/customers/{self.customer}/googleAds:search",
                          json={"query": "SELECT customer.id, customer.descriptive_name FROM customer"})
        name = ((body.get("results") or [{}])[0].get("customer") or {}).get("descriptiveName")
        return f"customer {self.customer}" + (f" ({name})" if name else "")

    def keyed(self, members: Sequence[Mapping[str, Any]]) -> dict[str, dict]:
        return keyed_by_email(members, self.row, google=True)

    def row(self, key: str, member: Mapping[str, Any] | None = None) -> dict:
        return {"hashedEmail": key}

    def ensure_audience(self, name: str, description: str) -> str:
        body = self._call("POST", f"/customers/{self.customer}/userLists:mutate", json={"operations": [{"create": {
            "name": name[:200], "description": description[:500], "membershipLifeSpan": 10000,
            "crmBasedUserList": {"uploadKeyType": "CONTACT_INFO", "dataSourceType": "FIRST_PARTY"}}}]})
        results = body.get("results") or []
        if not results or not results[0].get("resourceName"):
            raise DestinationError("Google Ads created no user list (no resourceName in its answer)")
        return str(results[0]["resourceName"])

    def _job(self, op: str, user_list: str, rows: list[dict]) -> BatchResult:
        job = self._call("POST", f"/customers/{self.customer}/offlineUserDataJobs:create", json={"job": {
            "type": "CUSTOMER_MATCH_USER_LIST", "customerMatchUserListMetadata": {"userList": user_list}}})
        job_name = job.get("resourceName")
        if not job_name:
            raise DestinationError("Google Ads created no offline user data job")
        added = self._call("POST", f"/{job_name}:addOperations", json={
            "enablePartialFailure": True,
            "operations": [{op: {"userIdentifiers": [row]}} for row in rows]})
        invalid = len((added.get("partialFailureError") or {}).get("details") or [])
        operation = self._call("POST", f"/{job_name}:run", json={})
        wait, waited = self.poll_seconds, 0.0
        for _ in range(self.max_polls):
            if operation.get("done"):
                break
            self.sleep(wait)
            waited += wait
            wait = min(wait * 2, 30.0)  # a short job is seen at once, a long one is not polled every second
            operation = self._call("GET", f"/{operation['name']}")
        else:
            raise DestinationError(f"Google Ads did not finish the job within {waited:.0f} s", transient=True)
        if operation.get("error"):
            raise DestinationError(f"Google Ads failed the job: {operation['error'].get('message')}")
        return BatchResult(len(rows), invalid, {"job": job_name.rsplit("/", 1)[-1]})

    def add(self, audience: str, rows: list[dict]) -> BatchResult:
        return self._job("create", audience, rows)

    def remove(self, audience: str, rows: list[dict]) -> BatchResult:
        return self._job("remove", audience, rows)


class LinkedInConnector:
    """LinkedIn matched audiences (Marketing API, Rest.li 2.0): a DMP segment of users created once
    (``POST /rest/dmpSegments``, its id in the ``x-restli-id`` header), members streamed in and out with
    ``POST /rest/dmpSegments/<id>/users`` (``X-RestLi-Method: BATCH_CREATE``), each element an ``ADD`` or
    ``REMOVE`` of ``SHA256_EMAIL``, at most 5,000 a request; per-element statuses come back in order."""

    platform = "linkedin"
    max_batch = 5_000

    def __init__(self, options: Mapping[str, Any], credentials: Mapping[str, str], *, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None):
        account = str(options.get("ad_account") or "").removeprefix("urn:li:sponsoredAccount:")
        if not account.isdigit():
            raise DestinationError("a LinkedIn destination needs its ad account's number (--ad-account 5xxxxxxxx)")
        self.account = account
        self.token = credentials.get("access_token") or ""
        if not self.token:
            raise DestinationError("a LinkedIn destination needs an access token with rw_dmp_segments "
                                   "(--token-file)")
        base = str(options.get("api_base_url") or LINKEDIN_API).rstrip("/")
        self.client = httpx.Client(base_url=base, timeout=timeout, transport=transport, headers={
            "Authorization": f"Bearer {self.token}", "X-Restli-Protocol-Version": "2.0.0",
            "LinkedIn-Version": str(options.get("api_version") or LINKEDIN_VERSION)})

    def _call(self, method: str, path: str, **kw) -> httpx.Response:
        try:
            r = self.client.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise DestinationError(f"LinkedIn could not be reached: {type(exc).__name__}", transient=True) from None
        if r.status_code < 400:
            return r
        try:
            body = r.json()
        except ValueError:
            body = {}
        message = _mask(str(body.get("message") or r.reason_phrase), [self.token])
        code = body.get("serviceErrorCode") or body.get("code")
        raise DestinationError(f"LinkedIn answered {r.status_code}" + (f" ({code})" if code else "") + f": {message}",
                               transient=r.status_code == 429 or r.status_code >= 500, retry_after=retry_after(r),
                               status=r.status_code)

    def check(self) -> str:
        body = self._call("GET", f"/adAccounts/{self.account}").json()
        return f"ad account {self.account}" + (f" ({body['name']})" if body.get("name") else "")

    def keyed(self, members: Sequence[Mapping[str, Any]]) -> dict[str, dict]:
        return keyed_by_email(members, self.row)

    def row(self, key: str, member: Mapping[str, Any] | None = None) -> dict:
        return {"idType": "SHA256_EMAIL", "idValue": key}

    def ensure_audience(self, name: str, description: str) -> str:
        r = self._call("POST", "/dmpSegments", json={
            "name": name[:200], "description": description[:500], "type": "USER",
            "account": f"urn:li:sponsoredAccount:{self.account}", "sourcePlatform": "LIST_UPLOAD",
            "destinations": [{"destination": "LINKEDIN"}]})
        segment = r.headers.get("x-restli-id") or r.headers.get("x-linkedin-id")
        if not segment:
            raise DestinationError("LinkedIn created no segment (no x-restli-id in its answer)")
        return str(segment)

    def _users(self, action: str, segment: str, rows: list[dict]) -> BatchResult:
        r = self._call("POST", f"/dmpSegments/{segment}/users", headers={"X-RestLi-Method": "BATCH_CREATE"},
                       json={"elements": [{"action": action, "userIds": [row]} for row in rows]})
        try:
            statuses = [e.get("status") for e in (r.json().get("elements") or [])]
        except ValueError:
            statuses = []
        invalid = sum(1 for st in statuses if isinstance(st, int) and st >= 400)
        return BatchResult(len(rows), invalid if statuses else None, {})

    def add(self, audience: str, rows: list[dict]) -> BatchResult:
        return self._users("ADD", audience, rows)

    def remove(self, audience: str, rows: list[dict]) -> BatchResult:
        return self._users("REMOVE", audience, rows)


class WebhookConnector:
    """JSON batches POSTed to a URL of the tenant's, each signed: ``X-Lookalike-Signature: t=<unix time>,
    v1=<hex HMAC-SHA256 of "<t>.<body>" with the signing secret>``. A member is its CRM id and EMAIL_SHA256."""

    platform = "webhook"
    max_batch = 1_000

    def __init__(self, options: Mapping[str, Any], credentials: Mapping[str, str], *, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None):
        self.url = str(options.get("url") or "")
        if not self.url.startswith(("https://", "http://")) or not httpx.URL(self.url).host:
            raise DestinationError("a webhook destination needs its URL (--url https://…)")
        self.secret = credentials.get("signing_secret") or ""
        if not self.secret:
            raise DestinationError("a webhook destination needs a signing secret (--secret-file)")
        self.client = httpx.Client(timeout=timeout, transport=transport)

    def sign(self, body: bytes, at: int | None = None) -> str:
        at = int(time.time()) if at is None else at
        mac = hmac.new(self.secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
        return f"t={at},v1={mac}"

    def _post(self, message: dict) -> dict:
        body = json.dumps(message, separators=(",", ":")).encode()
        try:
            r = self.client.post(self.url, content=body, headers={
                "Content-Type": "application/json", "X-Lookalike-Signature": self.sign(body)})
        except httpx.HTTPError as exc:
            raise DestinationError(f"the webhook could not be reached: {type(exc).__name__}", transient=True) from None
        if r.status_code >= 400:
            raise DestinationError(f"the webhook answered {r.status_code}",
                                   transient=r.status_code == 429 or r.status_code >= 500,
                                   retry_after=retry_after(r), status=r.status_code)
        try:
            return r.json() if r.content else {}
        except ValueError:
            return {}

    def check(self) -> str:
        self._post({"type": "ping"})
        return f"webhook {httpx.URL(self.url).host}"

    def keyed(self, members: Sequence[Mapping[str, Any]]) -> dict[str, dict]:
        """By EMAIL_SHA256, or by the CRM id (``id:<id>``) for a member without an email."""
        out = {}
        for m in members:
            h = email_sha256(m)
            key = h or (f"id:{m['external_id']}" if m.get("external_id") else None)
            if key:
                out[key] = self.row(key, m)
        return out

    def row(self, key: str, member: Mapping[str, Any] | None = None) -> dict:
        if key.startswith("id:"):
            return {"external_id": key[3:], "email_sha256": None}
        return {"external_id": (member or {}).get("external_id"), "email_sha256": key}

    def ensure_audience(self, name: str, description: str) -> str:
        return name

    def _batch(self, op: str, audience: str, rows: list[dict]) -> BatchResult:
        answer = self._post({"type": op, "audience": audience, "members": rows})
        received = answer.get("received") if isinstance(answer, dict) else None
        return BatchResult(int(received) if isinstance(received, int) else len(rows), None, {})

    def add(self, audience: str, rows: list[dict]) -> BatchResult:
        return self._batch("add", audience, rows)

    def remove(self, audience: str, rows: list[dict]) -> BatchResult:
        return self._batch("remove", audience, rows)


class S3Connector:
    """S3-compatible storage (boto3): each batch of a sync is one CSV object under
    ``<prefix>/<audience>/``, named ``<UTC time>-<sequence>-add.csv`` or ``…-remove.csv`` (columns
    ``email_sha256,external_id``), so a reader applies them in name order; nothing is overwritten."""

    platform = "s3"
    max_batch = 100_000

    def __init__(self, options: Mapping[str, Any], credentials: Mapping[str, str], *, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None):
        import boto3
        from botocore.config import Config

        self.bucket = str(options.get("bucket") or "")
        if not self.bucket:
            raise DestinationError("an S3 destination needs its bucket (--bucket)")
        self.prefix = str(options.get("prefix") or "").strip("/")
        self.secret = credentials.get("secret_access_key") or ""
        self.client = boto3.client(
            "s3", endpoint_url=options.get("endpoint_url") or None, region_name=options.get("region") or "us-east-1",
            aws_access_key_id=credentials.get("access_key_id") or None, aws_secret_access_key=self.secret or None,
            config=Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 1}))
        self.sequence = 0

    def _do(self, call, *args, **kw):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return call(*args, **kw)
        except ClientError as exc:
            err = exc.response.get("Error", {})
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            raise DestinationError(f"S3 answered {status} ({err.get('Code')}): {_mask(str(err.get('Message')), [self.secret])}",
                                   transient=status in (429, 500, 502, 503, 504) or err.get("Code") == "SlowDown",
                                   status=status) from None
        except BotoCoreError as exc:
            raise DestinationError(f"S3 could not be reached: {type(exc).__name__}", transient=True) from None

    def check(self) -> str:
        self._do(self.client.head_bucket, Bucket=self.bucket)
        return f"bucket {self.bucket}" + (f"/{self.prefix}" if self.prefix else "")

    def keyed(self, members: Sequence[Mapping[str, Any]]) -> dict[str, dict]:
        return keyed_by_email(members, self.row)

    def row(self, key: str, member: Mapping[str, Any] | None = None) -> dict:
        return {"email_sha256": key, "external_id": (member or {}).get("external_id")}

    def ensure_audience(self, name: str, description: str) -> str:
        import re as _re

        folder = _re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60] or "audience"
        return "/".join(p for p in (self.prefix, f"{folder}-{hashlib.sha256(name.encode()).hexdigest()[:8]}") if p)

    def _write(self, op: str, audience: str, rows: list[dict]) -> BatchResult:
        import csv
        import io
        from datetime import datetime, timezone

        self.sequence += 1
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["email_sha256", "external_id"])
        for r in rows:
            w.writerow([r.get("email_sha256") or "", r.get("external_id") or ""])
        key = f"{audience}/{datetime.now(timezone.utc):%Y%m%dT%H%M%S%fZ}-{self.sequence:06d}-{op}.csv"
        self._do(self.client.put_object, Bucket=self.bucket, Key=key, Body=buf.getvalue().encode(),
                 ContentType="text/csv")
        return BatchResult(len(rows), None, {"last_object": key})

    def add(self, audience: str, rows: list[dict]) -> BatchResult:
        return self._write("add", audience, rows)

    def remove(self, audience: str, rows: list[dict]) -> BatchResult:
        return self._write("remove", audience, rows)


CREDENTIALS = {"meta": ("access_token",), "linkedin": ("access_token",), "webhook": ("signing_secret",),
               "s3": ("access_key_id", "secret_access_key"),
               "google": ("developer_token", "client_id", "client_secret", "refresh_token")}
OPTIONS = {"meta": ("ad_account", "api_base_url", "api_version"),
           "linkedin": ("ad_account", "api_base_url", "api_version"), "webhook": ("url",),
           "s3": ("bucket", "prefix", "endpoint_url", "region"),
           "google": ("customer_id", "login_customer_id", "api_base_url", "api_version", "oauth_token_url")}


def connector(platform: str, options: Mapping[str, Any], credentials: Mapping[str, str],
              transport: httpx.BaseTransport | None = None) -> Connector:
    """The platform's connector; options that cannot make one (an address that is no URL, a region botocore
    refuses) are a DestinationError saying which."""
    try:
        return _connector(platform, options, credentials, transport)
    except DestinationError:
        raise
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        raise DestinationError(f"these {platform} options cannot be used: {type(exc).__name__}: "
                               + _mask(str(exc), list(credentials.values()))[:200]) from None


def _connector(platform: str, options: Mapping[str, Any], credentials: Mapping[str, str],
               transport: httpx.BaseTransport | None = None) -> Connector:
    if platform == "meta":
        return MetaConnector(options, credentials, transport=transport)
    if platform == "linkedin":
        return LinkedInConnector(options, credentials, transport=transport)
    if platform == "google":
        return GoogleAdsConnector(options, credentials, transport=transport)
    if platform == "webhook":
        return WebhookConnector(options, credentials, transport=transport)
    if platform == "s3":
        return S3Connector(options, credentials)
    raise DestinationError(f"unknown platform {platform!r}: one of {', '.join(PLATFORMS)}")
