"""What people do to a tenant's leads, seeds, suppression list and audiences (the CLI and applications):
validated writes as lookalike_app. The change-log triggers pick these writes up for the sensor. Onboarding and
deleting tenants are the owner's (lookalike_assets/db/admin.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from pydantic import ValidationError

from lookalike_assets.db.admin import AdminError, AlreadyExists
from lookalike_assets.db.connect import APP_ROLE, tenant_transaction
from lookalike_assets.db.queries import Q
from lookalike_assets.domain.audience import AudienceMetadata, parse_seed_set
from lookalike_assets.domain.exports import FORMATS
from lookalike_assets.domain.identifiers import normalize_email
from lookalike_assets.domain.similarity import LABEL_WEIGHTS
from lookalike_assets.pipeline.common import uuid_refs
from lookalike_assets.pipeline.destinations import audience_syncs
from lookalike_assets.pipeline.exports import remove_audience_files
from lookalike_assets.pipeline.memberships import validate_audience

__all__ = ["AdminError", "AlreadyExists"]


@dataclass
class SeedChange:
    added: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)


def add_seeds(conn: psycopg.Connection, tenant_id: uuid.UUID, refs: list[str], label: str = "manual",
              weight: float | None = None, source: str = "cli") -> SeedChange:
    """Mark leads (external ids or lead ids) of the tenant as seeds. A lead that is not this tenant's is
    reported as not found, never seeded."""
    if label not in LABEL_WEIGHTS:
        raise AdminError(f"unknown seed label {label!r}: one of {', '.join(LABEL_WEIGHTS)}")
    if weight is not None and not (0 < weight <= 100):
        raise AdminError(f"seed weight must be in (0, 100], got {weight}")
    refs = [r.strip() for r in refs if r and r.strip()]
    if not refs:
        raise AdminError("no leads given")
    out = SeedChange()
    with tenant_transaction(conn, tenant_id, APP_ROLE):
        found = {}
        for lead_id, ext in Q.admin.resolve_leads(conn, tenant_id=tenant_id, refs=refs, ids=uuid_refs(refs)):
            found[ext] = lead_id
            found[str(lead_id)] = lead_id
        for ref in refs:
            lead = found.get(ref)
            if lead is None:
                out.not_found.append(ref)
                continue
            sid = Q.admin.insert_seed(conn, tenant_id=tenant_id, lead_id=lead, label=label, weight=weight, source=source)
            (out.added if sid else out.already).append(ref)
    return out


def remove_seeds(conn: psycopg.Connection, tenant_id: uuid.UUID, refs: list[str], label: str | None = None) -> int:
    """Soft-delete seeds by seed id, lead external id or lead id."""
    with tenant_transaction(conn, tenant_id, APP_ROLE):
        return Q.admin.soft_delete_seeds(conn, tenant_id=tenant_id, refs=refs, ids=uuid_refs(refs),
                                         label=label)


def list_seeds(conn: psycopg.Connection, tenant_id: uuid.UUID, include_deleted: bool = False) -> list[tuple]:
    with tenant_transaction(conn, tenant_id, APP_ROLE):
        return list(Q.admin.list_seeds(conn, tenant_id=tenant_id, include_deleted=include_deleted))


def seed_page(conn: psycopg.Connection, tenant_id: uuid.UUID, after: tuple[str, str] | None, limit: int) -> list:
    """Up to ``limit`` live seeds (named rows) added after the position ``after`` (created_at as ISO text, seed id)."""
    with tenant_transaction(conn, tenant_id, APP_ROLE):
        return list(Q.admin.seed_page(conn, tenant_id=tenant_id, after_at=after[0] if after else None,
                                      after_id=after[1] if after else None, limit=limit))


def own_seed_set(conn: psycopg.Connection, tenant_id: uuid.UUID, seed_set: dict | None) -> tuple[dict, list[str]]:
    """The seed set with only the tenant's own ``seed_ids`` (others, another tenant's included, are dropped and
    returned, never stored). A seed set whose every id was dropped is refused."""
    seed_set = dict(seed_set or {})
    ids = seed_set.get("seed_ids")
    if not isinstance(ids, list) or not ids:
        return seed_set, []
    with tenant_transaction(conn, tenant_id, APP_ROLE):
        own = {str(r[0]) for r in Q.admin.own_seed_ids(conn, tenant_id=tenant_id, ids=uuid_refs([str(i) for i in ids]))}
    kept = [i for i in ids if str(i).lower() in own]
    ignored = [str(i) for i in ids if str(i).lower() not in own]
    if not kept:
        raise AdminError(f"none of the {len(ids)} seed id(s) is a seed of this tenant")
    seed_set["seed_ids"] = kept
    return seed_set, ignored


def create_audience(conn: psycopg.Connection, tenant_id: uuid.UUID, name: str, *, seed_set: dict | None = None,
                    rules: dict | None = None, pool_size: int | None = None, description: str | None = None,
                    pool_by: str | None = None) -> uuid.UUID:
    """A draft audience, validated like the pipeline validates it (seed set, rules, metadata)."""
    _audience_values(name)
    name = name.strip()
    rules = rules or {}
    metadata: dict[str, Any] = {"source": "cli"}
    if pool_size is not None:
        metadata["pool_size"] = pool_size
    if pool_by is not None:
        metadata["pool_by"] = pool_by
    _valid_metadata(metadata)
    parse_seed_set(seed_set or {})
    seed_set, _ignored = own_seed_set(conn, tenant_id, seed_set)
    with tenant_transaction(conn, tenant_id, APP_ROLE):
        validate_audience(conn, tenant_id, rules, seed_set)
        try:
            with conn.transaction():
                return Q.admin.insert_audience(conn, tenant_id=tenant_id, name=name, description=description,
                                         seed_set=Jsonb(seed_set), rules=Jsonb(rules), metadata=Jsonb(metadata))
        except psycopg.errors.UniqueViolation:
            raise AlreadyExists(f"an audience named {name!r} exists already") from None


def _valid_metadata(metadata: dict) -> None:
    try:
        AudienceMetadata.model_validate(metadata)
    except ValidationError as exc:
        raise AdminError("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from None


def _audience_values(name: str | None) -> None:
    if name is not None and not (1 <= len(name.strip()) <= 200):
        raise AdminError("an audience name has 1 to 200 characters")
    if name is not None and any(ord(ch) < 32 for ch in name):
        raise AdminError("an audience name cannot contain control characters")


def edit_audience(conn: psycopg.Connection, tenant_id: uuid.UUID, ref: str, *, name: str | None = None,
                  seed_set: dict | None = None, rules: dict | None = None, pool_size: int | None = None,
                  description: str | None = None, pool_by: str | None = None) -> str:
    """Change an audience's name, seed set, rules, pool size, what chooses its pool or its description, validated
    like a new audience. Returns its (new) name. The change log then refreshes the tenant."""
    audience_id, old_name, _d, old_seed_set, old_rules, _meta, *_ = find_audience(conn, tenant_id, ref)
    _audience_values(name)
    metadata = {k: v for k, v in (("pool_size", pool_size), ("pool_by", pool_by)) if v is not None} or None
    if metadata:
        _valid_metadata(metadata)
    if seed_set is not None:
        parse_seed_set(seed_set)
        seed_set, _ignored = own_seed_set(conn, tenant_id, seed_set)
    with tenant_transaction(conn, tenant_id, APP_ROLE):
        validate_audience(conn, tenant_id, old_rules if rules is None else rules,
                          old_seed_set if seed_set is None else seed_set)
        try:
            with conn.transaction():
                row = Q.admin.update_audience(conn, tenant_id=tenant_id, audience_id=audience_id,
                                        name=name.strip() if name else None, description=description,
                                        seed_set=None if seed_set is None else Jsonb(seed_set),
                                        rules=None if rules is None else Jsonb(rules),
                                        metadata=None if metadata is None else Jsonb(metadata))
        except psycopg.errors.UniqueViolation:
            raise AlreadyExists(f"an audience named {name!r} exists already") from None
    return row[1] if row else old_name


def delete_audience(conn: psycopg.Connection, tenant_id: uuid.UUID, ref: str,
                    exports_dir: str | Path | None = None) -> tuple[uuid.UUID, str, list[str]]:
    """Delete an audience with its profile, pool, members, export log and attributed facts, and (given the local
    exports folder) its export folders. Returns its id, its name and the folders removed. The one way every
    front end (CLI, REST API, studio) deletes an audience."""
    audience_id = find_audience(conn, tenant_id, ref)[0]
    with tenant_transaction(conn, tenant_id, APP_ROLE):
        slug = Q.tenants.get_tenant(conn, tenant_id=str(tenant_id))[1]
        name = Q.admin.delete_audience(conn, tenant_id=tenant_id, audience_id=audience_id)
    files = remove_audience_files(exports_dir, slug, audience_id) if exports_dir is not None else []
    return audience_id, name, files


@dataclass
class LeadDeletion:
    deleted: list[str] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)


def delete_leads(conn: psycopg.Connection, tenant_id: uuid.UUID, refs: list[str]) -> LeadDeletion:
    """Delete leads by external id or lead id, with everything of them (features, embedding, seeds, candidates,
    memberships, conversions). A lead of another tenant is not found."""
    refs = list(dict.fromkeys(r.strip() for r in refs if r and r.strip()))
    if not refs:
        raise AdminError("no leads given")
    out = LeadDeletion()
    with tenant_transaction(conn, tenant_id, APP_ROLE):
        for i in range(0, len(refs), 10_000):
            out.deleted += [r[0] for r in Q.admin.delete_leads(
                conn, tenant_id=tenant_id, refs=refs[i:i + 10_000], ids=uuid_refs(refs[i:i + 10_000]))]
    gone = set(out.deleted)
    out.not_found = [r for r in refs if r not in gone]
    return out


def email_sha256(email: str) -> str:
    """How the suppression list stores an email: SHA-256 of the trimmed, lower-cased address."""
    import hashlib

    return hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()


@dataclass
class SuppressionChange:
    added: int = 0
    already: int = 0
    not_found: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)


def add_suppression(conn: psycopg.Connection, tenant_id: uuid.UUID, *, leads: list[str] = (),
                    emails: list[str] = (), reason: str = "unspecified") -> SuppressionChange:
    """Never target these leads (by external id or lead id) or these emails (stored only as SHA-256: an email
    that is not a lead yet is suppressed when it arrives)."""
    out = SuppressionChange()
    reason = (reason or "unspecified").strip()[:200]
    with tenant_transaction(conn, tenant_id, APP_ROLE):
        found = {}
        if leads:
            for lead_id, ext in Q.admin.resolve_leads(conn, tenant_id=tenant_id, refs=list(leads), ids=uuid_refs(leads)):
                found[ext] = lead_id
                found[str(lead_id)] = lead_id
        for ref in leads:
            if ref not in found:
                out.not_found.append(ref)
                continue
            added = Q.admin.add_suppression(conn, tenant_id=tenant_id, lead_id=found[ref], email_sha256=None, reason=reason)
            out.added += added is not None
            out.already += added is None
        for e in emails:
            if normalize_email(e) is None:
                out.invalid.append(e)
                continue
            added = Q.admin.add_suppression(conn, tenant_id=tenant_id, lead_id=None, email_sha256=email_sha256(e),
                                      reason=reason)
            out.added += added is not None
            out.already += added is None
    return out


def list_suppression(conn: psycopg.Connection, tenant_id: uuid.UUID) -> list[tuple]:
    with tenant_transaction(conn, tenant_id, APP_ROLE):
        return list(Q.admin.list_suppression(conn, tenant_id=tenant_id))


def remove_suppression(conn: psycopg.Connection, tenant_id: uuid.UUID, refs: list[str]) -> int:
    """Remove entries by suppression id, lead (external id or id), or email."""
    hashes = [email_sha256(r) for r in refs if "@" in r]
    with tenant_transaction(conn, tenant_id, APP_ROLE):
        return Q.admin.remove_suppression(conn, tenant_id=tenant_id, refs=list(refs), ids=uuid_refs(refs),
                                          hashes=hashes)


def find_audience(conn: psycopg.Connection, tenant_id: uuid.UUID, ref: str) -> tuple:
    with tenant_transaction(conn, tenant_id, APP_ROLE):
        row = Q.admin.find_audience(conn, tenant_id=tenant_id, ref=ref)
    if row is None:
        raise AdminError(f"no audience {ref!r} in this tenant")
    return row


def set_status(conn: psycopg.Connection, tenant_id: uuid.UUID, ref: str, status: str) -> bool:
    """publish / retire / back to draft. Returns False when it already had that status."""
    if status not in ("draft", "published", "retired"):
        raise AdminError(f"unknown status {status!r}")
    audience_id = find_audience(conn, tenant_id, ref)[0]
    with tenant_transaction(conn, tenant_id, APP_ROLE):
        return Q.admin.set_audience_status(conn, tenant_id=tenant_id, audience_id=audience_id, status=status) is not None


class NotPublished(AdminError):
    """An export asked for an audience that is not published."""


class TooSmallForPlatform(AdminError):
    """An export asked for an audience with fewer members (held-out ones aside) than the platform's minimum."""


def request_export(conn: psycopg.Connection, tenant_id: uuid.UUID, ref: str, platform: str,
                   role: str = APP_ROLE) -> uuid.UUID:
    """Ask for an export of a published audience to a platform's upload format now, whatever its destinations
    say: a job the export sensor runs (its id follows it). The one way the REST API and the studio ask."""
    if platform not in FORMATS:
        raise AdminError(f"unknown export format {platform!r}: one of {', '.join(FORMATS)}")
    audience_id, name, *_rest = find_audience(conn, tenant_id, ref)
    status = _rest[4]
    if status != "published":
        raise NotPublished(f"audience {name!r} is {status}: publish it before exporting")
    from lookalike_assets.domain.exports import MIN_SIZES
    from lookalike_assets.settings import get_settings

    minimum = {**MIN_SIZES, **get_settings().export_min_sizes}.get(platform, 1)
    with tenant_transaction(conn, tenant_id, role):
        # refused now rather than skipped by the run later: members are an upper bound of the people it can match
        members = Q.admin.exportable_member_count(conn, tenant_id=tenant_id, audience_id=audience_id)
        if members < minimum:
            raise TooSmallForPlatform(f"{platform} needs at least {minimum} matched people per audience; "
                                      f"{name!r} has {members} member(s) to export (held-out members aside)")
        return Q.online.insert_job(conn, tenant_id=tenant_id, kind="export", audience_id=audience_id,
                                   platform=platform).job_id


def audience_report(conn: psycopg.Connection, tenant_id: uuid.UUID, ref: str, top: int = 10) -> dict:
    audience_id, name, description, seed_set, rules, metadata, status, size, updated = find_audience(conn, tenant_id, ref)
    with tenant_transaction(conn, tenant_id, APP_ROLE):
        members = list(Q.admin.top_members(conn, tenant_id=tenant_id, audience_id=audience_id, n=top))
        count = Q.admin.count_members(conn, tenant_id=tenant_id, audience_id=audience_id)
        exports = [r._asdict() for r in Q.admin.last_exports(conn, tenant_id=tenant_id, audience_id=audience_id)]
        segments = [r._asdict() for r in Q.segments.audience_segments(conn, tenant_id=tenant_id,
                                                                      audience_id=audience_id)]
    from lookalike_assets.pipeline.incrementality import audience_incrementality
    from lookalike_assets.pipeline.ranking import champion_summary
    from lookalike_assets.pipeline.tuning import audience_recommendation

    lift = audience_incrementality(conn, tenant_id, APP_ROLE)
    recommendation, tuning_note = audience_recommendation(conn, tenant_id, audience_id, APP_ROLE)
    with tenant_transaction(conn, tenant_id, APP_ROLE):
        history = [r._asdict() for r in Q.tuning.tuning_history(conn, tenant_id=tenant_id, audience_id=audience_id, n=5)]
    syncs = audience_syncs(conn, tenant_id, audience_id)
    try:  # the conversion rate of the best N, as of the marts' last build (none before the first)
        with tenant_transaction(conn, tenant_id, APP_ROLE):
            reach = [r._asdict() for r in Q.studio.reach_curve(conn, tenant_id=tenant_id, audience_id=audience_id)]
    except psycopg.errors.UndefinedTable:
        reach = []
    return {
        "ranking": champion_summary(conn, tenant_id),
        "audience_id": str(audience_id), "name": name, "description": description, "status": status,
        "size_estimate": size, "members": count, "seed_set": seed_set, "rules": rules,
        "membership": (metadata or {}).get("membership", {}), "updated_at": updated,
        "segments": segments, "segmentation": (metadata or {}).get("segments", {}),
        "holdout": ((metadata or {}).get("membership") or {}).get("holdout") or {},
        "incrementality": None if lift is None else next((x for x in lift if x["audience_id"] == audience_id), None),
        "recommendation": recommendation, "recommendation_note": tuning_note, "tuning_history": history,
        "syncs": syncs, "reach": reach, "exports": exports,
        # a member's place in the audience and the share above it, which people read, beside the raw scores
        "top": [{"external_id": e, "place": i, "top_percent": _top_percent(i, count), "similarity": s,
                 "rank_score": r, "decile": d, "reasons": why, "status": st}
                for i, (e, s, r, d, why, st) in enumerate(members, start=1)],
    }


def _top_percent(place: int, of: int) -> float:
    """The share of an audience at or above a place in it, rounded up to a number people read (0.1 %, 2 %, 15 %)."""
    import math

    pct = 100.0 * place / max(of, 1)
    return math.ceil(pct * 10) / 10 if pct < 1 else float(math.ceil(pct))


def remove_tenant_files(home, slug: str) -> list[str]:
    """Files lookalike wrote for a tenant under LOOKALIKE_HOME: exports, the report, import rejects, uploads."""
    import shutil
    from pathlib import Path

    home = Path(home)
    gone = []
    for p in [home / "exports" / slug, home / "uploads" / slug, home / "reports" / f"{slug}.html",
              *sorted((home / "rejects").glob(f"{slug}-*"))]:
        if p.is_dir():
            shutil.rmtree(p)
            gone.append(str(p))
        elif p.exists():
            p.unlink()
            gone.append(str(p))
    return gone
