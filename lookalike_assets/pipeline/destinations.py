"""Destinations of a tenant (named connections to the ad platforms, credentials sealed) and the sync of its
published audiences to them: the first sync sends every member, later ones only who joined and who left since the
last one that reached the platform.

What a destination holds is remembered per member key (the platform's hash of the person's email) in the
transaction that records each batch, so a sync killed between two batches resumes from exactly what was sent: it
sends no add twice and forgets no remove. Members who left the audience, were suppressed, erased or deleted are
removed; the holdout's control arm is never sent. Transient failures (HTTP 429 and 5xx, the platform's throttling
codes) are retried with backoff, honouring ``Retry-After``; a destination that fails ``pause_after`` syncs in a
row is paused (its reason kept) until someone resumes it, and the alerts check reports it.

People's writes (add, update, remove) run on the application's login, which can write the sealed credentials but
not read them; syncs and tests run on the pipeline's login, the only one that reads them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
from psycopg.types.json import Jsonb

from lookalike_assets.db.admin import AdminError, AlreadyExists
from lookalike_assets.db.connect import APP_ROLE, PIPELINE_ROLE, tenant_transaction
from lookalike_assets.db.queries import Q
from lookalike_assets.domain.destinations import (
    AVAILABLE,
    CREDENTIALS,
    OPTIONS,
    PLATFORMS,
    Connector,
    DestinationError,
    connector,
)
from lookalike_assets.domain.rules import RuleError, named_destinations_of
from lookalike_assets.domain.sealing import SealError, seal, unseal
from lookalike_assets.faults import fault_point
from lookalike_assets.pipeline.common import log, uuid_ref


@dataclass
class Destination:
    destination_id: uuid.UUID
    name: str
    platform: str
    options: dict
    status: str
    failures: int
    paused_reason: str | None


def _owner(tenant_id: uuid.UUID, destination_id: uuid.UUID) -> str:
    return f"{tenant_id}/{destination_id}"


def _valid(name: str | None, platform: str, options: Mapping[str, Any]) -> None:
    if name is not None and (not 1 <= len(name.strip()) <= 100 or any(ord(c) < 32 for c in name)):
        raise AdminError("a destination's name has 1 to 100 characters, none of them control characters")
    if platform not in PLATFORMS:
        raise AdminError(f"unknown platform {platform!r}: one of {', '.join(PLATFORMS)}")
    if platform not in AVAILABLE:
        raise AdminError(f"{platform} destinations are not available yet (available: {', '.join(AVAILABLE)}); "
                         f"its upload file is: rules.destinations [\"{platform}\"]")
    unknown = set(options) - set(OPTIONS[platform])
    if unknown:
        raise AdminError(f"unknown {platform} option(s): {', '.join(sorted(unknown))} (known: "
                         f"{', '.join(OPTIONS[platform])})")
    for opt in ("api_base_url", "endpoint_url", "oauth_token_url"):
        base = options.get(opt)
        if base is not None and not str(base).startswith(("https://", "http://")):
            raise AdminError(f"--{opt.replace('_', '-')} must be an http(s) address")


def _credentials(platform: str, credentials: Mapping[str, str]) -> dict[str, str]:
    needed = CREDENTIALS[platform]
    missing = [k for k in needed if not (credentials.get(k) or "").strip()]
    if missing:
        raise AdminError(f"a {platform} destination needs: {', '.join(missing)}")
    return {k: credentials[k].strip() for k in needed}


def add_destination(conn: psycopg.Connection, tenant_id: uuid.UUID, name: str, platform: str,
                    options: Mapping[str, Any], credentials: Mapping[str, str], secret: str) -> uuid.UUID:
    """A new destination of the tenant, its credentials sealed (checked for shape here; `test_destination` makes a
    real call)."""
    options = {k: v for k, v in options.items() if v not in (None, "")}
    _valid(name, platform, options)
    creds = _credentials(platform, credentials)
    try:
        connector(platform, options, creds)  # the options a connector needs are there
    except DestinationError as exc:
        raise AdminError(str(exc)) from None
    destination_id = uuid.uuid4()
    with tenant_transaction(conn, tenant_id, APP_ROLE):
        try:
            with conn.transaction():
                Q.destinations.insert_destination(
                    conn, tenant_id=tenant_id, destination_id=destination_id, name=name.strip(), platform=platform,
                    options=Jsonb(options), sealed=seal(secret, _owner(tenant_id, destination_id), creds))
        except psycopg.errors.UniqueViolation:
            raise AlreadyExists(f"a destination named {name.strip()!r} exists already") from None
    return destination_id


def list_destinations(conn: psycopg.Connection, tenant_id: uuid.UUID, role: str = APP_ROLE) -> list[dict]:
    with tenant_transaction(conn, tenant_id, role):
        return [r._asdict() for r in Q.destinations.list_destinations(conn, tenant_id=tenant_id)]


def find_destination(conn: psycopg.Connection, tenant_id: uuid.UUID, ref: str, role: str = APP_ROLE) -> Destination:
    with tenant_transaction(conn, tenant_id, role):
        row = Q.destinations.find_destination(conn, tenant_id=tenant_id, ref=ref, ref_id=uuid_ref(ref))
    if row is None:
        raise AdminError(f"no destination {ref!r} in this tenant")
    return Destination(*row)


def update_destination(conn: psycopg.Connection, tenant_id: uuid.UUID, ref: str, secret: str, *,
                       name: str | None = None, options: Mapping[str, Any] | None = None,
                       credentials: Mapping[str, str] | None = None, resume: bool = False) -> Destination:
    """Rename, change options (merged: an empty value removes one), replace the credentials (all of them), or
    resume a paused destination."""
    d = find_destination(conn, tenant_id, ref)
    merged = None
    if options:
        merged = {k: v for k, v in {**d.options, **options}.items() if v not in (None, "")}
    _valid(name, d.platform, merged if merged is not None else d.options)
    if merged is not None:  # the new options make a connector (credentials are not read here: stand-ins)
        try:
            connector(d.platform, merged, {k: "unread" for k in CREDENTIALS[d.platform]})
        except DestinationError as exc:
            raise AdminError(str(exc)) from None
    sealed = None
    if credentials:
        sealed = seal(secret, _owner(tenant_id, d.destination_id), _credentials(d.platform, credentials))
    with tenant_transaction(conn, tenant_id, APP_ROLE):
        try:
            with conn.transaction():
                Q.destinations.update_destination(
                    conn, tenant_id=tenant_id, destination_id=d.destination_id,
                    name=name.strip() if name else None, options=Jsonb(merged) if merged is not None else None,
                    status="active" if resume else None)
                if sealed is not None:
                    Q.destinations.reseal(conn, tenant_id=tenant_id, destination_id=d.destination_id, sealed=sealed)
        except psycopg.errors.UniqueViolation:
            raise AlreadyExists(f"a destination named {name!r} exists already") from None
    return find_destination(conn, tenant_id, str(d.destination_id))


def remove_destination(conn: psycopg.Connection, tenant_id: uuid.UUID, ref: str) -> str:
    """Forget a destination, its audiences' ids and its sync history (the platform keeps its audiences)."""
    d = find_destination(conn, tenant_id, ref)
    with tenant_transaction(conn, tenant_id, APP_ROLE):
        Q.destinations.delete_destination(conn, tenant_id=tenant_id, destination_id=d.destination_id)
    return d.name


def open_connector(conn: psycopg.Connection, tenant_id: uuid.UUID, d: Destination, secret: str,
                   transport: httpx.BaseTransport | None = None) -> Connector:
    """The destination's connector with its credentials unsealed (the pipeline's login only)."""
    with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
        sealed = Q.destinations.destination_sealed(conn, tenant_id=tenant_id, destination_id=d.destination_id)
    if sealed is None:
        raise DestinationError(f"destination {d.name!r} has no credentials: give them with "
                               "`lookalike destinations update`")
    try:
        creds = unseal(secret, _owner(tenant_id, d.destination_id), sealed)
    except SealError as exc:
        raise DestinationError(str(exc)) from None
    return connector(d.platform, d.options, creds, transport=transport)


def test_destination(conn: psycopg.Connection, tenant_id: uuid.UUID, ref: str, secret: str,
                     transport: httpx.BaseTransport | None = None) -> str:
    """A real authenticated call to the platform; what it reached, or a DestinationError saying why not."""
    d = find_destination(conn, tenant_id, ref, PIPELINE_ROLE)
    return open_connector(conn, tenant_id, d, secret, transport).check()


@dataclass
class SyncResult:
    destination: str
    audience: str
    status: str  # succeeded, failed, skipped
    added: int = 0
    removed: int = 0
    batches: int = 0
    attempts: int = 0
    received: int | None = None
    invalid: int | None = None
    unmatched: int = 0  # members with nothing the platform matches on (no valid email)
    external_id: str | None = None
    error: str | None = None
    paused: bool = False
    report: dict = field(default_factory=dict)


def with_retries(call: Callable[[], Any], attempts: int, backoff: float,
                 sleep: Callable[[float], None] = time.sleep) -> tuple[Any, int]:
    """``call()`` and how many tries it took; a transient failure is tried again after what the platform asked
    (``Retry-After``) or an exponential backoff, at most ``attempts`` tries in all."""
    for i in range(attempts):
        try:
            return call(), i + 1
        except DestinationError as exc:
            if not exc.transient or i == attempts - 1:
                raise
            wait = exc.retry_after if exc.retry_after is not None else backoff * 2 ** i
            log.info("transient failure (%s): retrying in %.1f s", exc, wait)
            sleep(min(wait, 300.0))
    raise AssertionError("unreachable")


def _chunks(items: list, n: int):
    for i in range(0, len(items), n):
        yield items[i:i + n]


def sync_audience(conn: psycopg.Connection, tenant_id: uuid.UUID, d: Destination, audience_id: uuid.UUID,
                  audience_name: str, conn_: Connector, *, run_id: str | None = None, attempts: int = 4,
                  backoff: float = 1.0, batch_size: int | None = None,
                  sleep: Callable[[float], None] = time.sleep) -> SyncResult:
    """One audience to one destination: removes, then adds, batch by batch, each batch recorded as it is sent."""
    out = SyncResult(d.name, audience_name, "running")
    size = min(batch_size or conn_.max_batch, conn_.max_batch)
    with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
        sync_id = Q.destinations.start_sync(conn, tenant_id=tenant_id, destination_id=d.destination_id,
                                            audience_id=audience_id, run_id=run_id)
        members = [r._asdict() for r in Q.destinations.sync_members(conn, tenant_id=tenant_id,
                                                                     audience_id=audience_id)]
        external = Q.destinations.destination_audience(conn, tenant_id=tenant_id, destination_id=d.destination_id,
                                                       audience_id=audience_id)
        sent = {r.member_key for r in Q.destinations.member_keys(conn, tenant_id=tenant_id,
                                                                 destination_id=d.destination_id,
                                                                 audience_id=audience_id)}
    wanted = conn_.keyed(members)
    out.unmatched = len(members) - len(wanted)
    try:
        if external is None:
            external, tries = with_retries(
                lambda: conn_.ensure_audience(audience_name, f"lookalike audience {audience_name}"), attempts,
                backoff, sleep)
            out.attempts += tries
            with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
                Q.destinations.insert_destination_audience(conn, tenant_id=tenant_id, destination_id=d.destination_id,
                                                           audience_id=audience_id, external_id=external)
        out.external_id = external
        removes, adds = sorted(sent - set(wanted)), sorted(set(wanted) - sent)
        plan = [("remove", batch) for batch in _chunks(removes, size)] + \
            [("add", batch) for batch in _chunks(adds, size)]
        for op, keys in plan:
            call = conn_.remove if op == "remove" else conn_.add
            rows = [wanted[k] for k in keys] if op == "add" else [conn_.row(k) for k in keys]
            res, tries = with_retries(lambda call=call, rows=rows: call(external, rows), attempts, backoff, sleep)
            with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
                if op == "add":
                    Q.destinations.add_member_keys(conn, tenant_id=tenant_id, destination_id=d.destination_id,
                                                   audience_id=audience_id, keys=keys)
                else:
                    Q.destinations.remove_member_keys(conn, tenant_id=tenant_id, destination_id=d.destination_id,
                                                      audience_id=audience_id, keys=keys)
                Q.destinations.sync_batch(conn, tenant_id=tenant_id, sync_id=sync_id,
                                          added=len(keys) if op == "add" else 0,
                                          removed=len(keys) if op == "remove" else 0, attempts=tries,
                                          received=res.received, invalid=res.invalid)
            out.batches += 1
            out.attempts += tries
            out.added += len(keys) if op == "add" else 0
            out.removed += len(keys) if op == "remove" else 0
            if res.received is not None:
                out.received = (out.received or 0) + res.received
            if res.invalid is not None:
                out.invalid = (out.invalid or 0) + res.invalid
            out.report.update(res.report)
            fault_point("destinations:after-first-batch")
        out.status = "succeeded"
    except DestinationError as exc:
        out.status, out.error = "failed", str(exc)
    out.report.update({"members": len(members), "unmatched": out.unmatched, "platform_audience": out.external_id})
    with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
        Q.destinations.finish_sync(conn, tenant_id=tenant_id, sync_id=sync_id, status=out.status, error=out.error,
                                   report=Jsonb(out.report), attempts=0)
    return out


def sync_tenant(conn: psycopg.Connection, tenant_id: uuid.UUID, secret: str, *, run_id: str | None = None,
                only: str | None = None, attempts: int = 4, backoff: float = 1.0, pause_after: int = 3,
                batch_size: int | None = None, transport: httpx.BaseTransport | None = None,
                sleep: Callable[[float], None] = time.sleep) -> list[SyncResult]:
    """Every published audience to each destination its rules name (``only``: one destination, by name or id)."""
    with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
        audiences = list(Q.exports.published_audiences(conn, tenant_id=tenant_id))
        dests = {r[1]: Destination(*r) for r in (
            (x.destination_id, x.name, x.platform, x.options, x.status, x.failures, x.paused_reason)
            for x in Q.destinations.list_destinations(conn, tenant_id=tenant_id))}
    if only is not None:
        chosen = find_destination(conn, tenant_id, only, PIPELINE_ROLE)
        dests = {chosen.name: chosen}
    out: list[SyncResult] = []
    opened: dict[str, Connector | DestinationError] = {}
    for audience_id, audience_name, rules_raw in audiences:
        try:
            names = named_destinations_of(rules_raw)
        except RuleError as exc:
            if only is None:
                out.append(SyncResult("-", audience_name, "skipped", error=str(exc)))
            continue
        for name in names:
            d = dests.get(name)
            if d is None:
                if only is None:
                    out.append(SyncResult(name, audience_name, "failed",
                                          error=f"no destination named {name!r}: add it with `lookalike destinations "
                                          "add`, or change the audience's rules"))
                continue
            if d.status == "paused":
                out.append(SyncResult(name, audience_name, "skipped", paused=True,
                                      error=f"paused after {d.failures} failed syncs ({d.paused_reason}): resume it "
                                      "with `lookalike destinations update --resume`"))
                continue
            if name not in opened:
                try:
                    opened[name] = open_connector(conn, tenant_id, d, secret, transport)
                except DestinationError as exc:
                    opened[name] = exc
            c = opened[name]
            if isinstance(c, DestinationError):
                res = SyncResult(name, audience_name, "failed", error=str(c))
            else:
                res = sync_audience(conn, tenant_id, d, audience_id, audience_name, c, run_id=run_id,
                                    attempts=attempts, backoff=backoff, batch_size=batch_size, sleep=sleep)
            with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
                state = Q.destinations.record_outcome(conn, tenant_id=tenant_id, destination_id=d.destination_id,
                                                      failed=res.status == "failed", pause_after=pause_after,
                                                      reason=(res.error or "")[:500])
            if state is not None and state.status == "paused" and d.status != "paused":
                res.paused = True
                d.status = "paused"
            out.append(res)
    return out


def audience_syncs(conn: psycopg.Connection, tenant_id: uuid.UUID, audience_id: uuid.UUID, role: str = APP_ROLE,
                   n: int = 10) -> list[dict]:
    with tenant_transaction(conn, tenant_id, role):
        return [r._asdict() for r in Q.destinations.audience_syncs(conn, tenant_id=tenant_id,
                                                                   audience_id=audience_id, n=n)]
