"""What people do to tenants, seeds and audiences (the CLI and applications): validated writes as
lookalike_app. The change-log triggers pick these writes up for the sensor."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from lookalike_assets.db.connect import APP_ROLE, tenant_transaction
from lookalike_assets.db.queries import Q
from lookalike_assets.domain.audience import AudienceMetadata, parse_seed_set
from lookalike_assets.domain.similarity import LABEL_WEIGHTS
from lookalike_assets.pipeline.memberships import validate_audience


class AdminError(ValueError):
    pass


def create_tenant(conn: psycopg.Connection, slug: str, name: str) -> str:
    """Onboard a tenant (admin connection)."""
    try:
        with conn.transaction():
            return Q.create_tenant(conn, slug=slug, name=name)
    except psycopg.errors.UniqueViolation:
        raise AdminError(f"a tenant with slug {slug!r} exists already") from None
    except psycopg.errors.CheckViolation:
        raise AdminError(f"invalid slug {slug!r}: lower-case letters, digits and dashes, at most 63") from None


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
        for lead_id, ext in Q.resolve_leads(conn, tenant_id=tenant_id, refs=refs):
            found[ext] = lead_id
            found[str(lead_id)] = lead_id
        for ref in refs:
            lead = found.get(ref)
            if lead is None:
                out.not_found.append(ref)
                continue
            sid = Q.insert_seed(conn, tenant_id=tenant_id, lead_id=lead, label=label, weight=weight, source=source)
            (out.added if sid else out.already).append(ref)
    return out


def remove_seeds(conn: psycopg.Connection, tenant_id: uuid.UUID, refs: list[str], label: str | None = None) -> int:
    """Soft-delete seeds by seed id, lead external id or lead id."""
    with tenant_transaction(conn, tenant_id, APP_ROLE):
        return Q.soft_delete_seeds(conn, tenant_id=tenant_id, refs=refs, label=label)


def list_seeds(conn: psycopg.Connection, tenant_id: uuid.UUID, include_deleted: bool = False) -> list[tuple]:
    with tenant_transaction(conn, tenant_id, APP_ROLE):
        return list(Q.list_seeds(conn, tenant_id=tenant_id, include_deleted=include_deleted))


def create_audience(conn: psycopg.Connection, tenant_id: uuid.UUID, name: str, *, seed_set: dict | None = None,
                    rules: dict | None = None, pool_size: int | None = None, description: str | None = None
                    ) -> uuid.UUID:
    """A draft audience, validated like the pipeline validates it (seed set, rules, metadata)."""
    seed_set = seed_set or {}
    rules = rules or {}
    metadata: dict[str, Any] = {"source": "cli"}
    if pool_size is not None:
        metadata["pool_size"] = pool_size
    AudienceMetadata.model_validate(metadata)
    parse_seed_set(seed_set)
    with tenant_transaction(conn, tenant_id, APP_ROLE):
        validate_audience(conn, tenant_id, rules, seed_set)
        try:
            with conn.transaction():
                return Q.insert_audience(conn, tenant_id=tenant_id, name=name, description=description,
                                         seed_set=Jsonb(seed_set), rules=Jsonb(rules), metadata=Jsonb(metadata))
        except psycopg.errors.UniqueViolation:
            raise AdminError(f"an audience named {name!r} exists already") from None


def find_audience(conn: psycopg.Connection, tenant_id: uuid.UUID, ref: str) -> tuple:
    with tenant_transaction(conn, tenant_id, APP_ROLE):
        row = Q.find_audience(conn, tenant_id=tenant_id, ref=ref)
    if row is None:
        raise AdminError(f"no audience {ref!r} in this tenant")
    return row


def set_status(conn: psycopg.Connection, tenant_id: uuid.UUID, ref: str, status: str) -> bool:
    """publish / retire / back to draft. Returns False when it already had that status."""
    if status not in ("draft", "published", "retired"):
        raise AdminError(f"unknown status {status!r}")
    audience_id = find_audience(conn, tenant_id, ref)[0]
    with tenant_transaction(conn, tenant_id, APP_ROLE):
        return Q.set_audience_status(conn, tenant_id=tenant_id, audience_id=audience_id, status=status) is not None


def audience_report(conn: psycopg.Connection, tenant_id: uuid.UUID, ref: str, top: int = 10) -> dict:
    audience_id, name, description, seed_set, rules, metadata, status, size, updated = find_audience(conn, tenant_id, ref)
    with tenant_transaction(conn, tenant_id, APP_ROLE):
        members = list(Q.top_members(conn, tenant_id=tenant_id, audience_id=audience_id, n=top))
        count = Q.count_members(conn, tenant_id=tenant_id, audience_id=audience_id)
    from lookalike_assets.pipeline.ranking import champion_summary

    return {
        "ranking": champion_summary(conn, tenant_id),
        "audience_id": str(audience_id), "name": name, "description": description, "status": status,
        "size_estimate": size, "members": count, "seed_set": seed_set, "rules": rules,
        "membership": (metadata or {}).get("membership", {}), "updated_at": updated,
        "top": [{"external_id": e, "similarity": s, "rank_score": r, "decile": d, "reasons": why, "status": st}
                for e, s, r, d, why, st in members],
    }
