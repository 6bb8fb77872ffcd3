"""A tenant's seeds: the leads its audiences are built to look like."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter

from lookalike_assets.api.deps import Conn, Tenant
from lookalike_assets.api.errors import ApiError
from lookalike_assets.api.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor, invalid_cursor
from lookalike_assets.api.schemas import SeedIn, SeedItem, SeedOut
from lookalike_assets.db.connect import API_ROLE, tenant_transaction
from lookalike_assets.db.queries import Q
from lookalike_assets.pipeline import admin as admin_ops
from lookalike_assets.pipeline.admin import AdminError
from lookalike_assets.pipeline.common import uuid_refs

router = APIRouter(prefix="/lookalike/seed", tags=["seeds"])


@router.post("", status_code=201)
def add_seed(tid: Tenant, conn: Conn, body: SeedIn) -> SeedOut:
    """Mark leads (by id or external id) as seeds with a label and an optional weight."""
    try:
        ch = admin_ops.add_seeds(conn, tid, body.lead_ids, body.label, body.weight, source="api")
    except AdminError as exc:
        raise ApiError(400, "invalid_seed", str(exc), "lead_ids") from None
    if not ch.added and not ch.already:
        raise ApiError(404, "not_found", f"no lead {', '.join(ch.not_found[:5])} in this tenant", "lead_ids")
    with tenant_transaction(conn, tid, API_ROLE):
        ids = [str(r.seed_id) for r in Q.online.live_seed_ids(conn, tenant_id=tid, label=body.label,
                                                               refs=ch.added + ch.already,
                                                               ids=uuid_refs(ch.added + ch.already))]
    return SeedOut(seed_ids=ids, not_found=ch.not_found, already=ch.already)


@router.get("")
def list_seed(tid: Tenant, conn: Conn, cursor: Cursor = None, limit: Limit = 100) -> Page[SeedItem]:
    """The tenant's live seeds, oldest first, by page."""
    after = decode_cursor(cursor, str, str)
    if after:
        try:
            datetime.fromisoformat(after[0])
            uuid.UUID(after[1])
        except ValueError:
            raise invalid_cursor() from None
    rows = admin_ops.seed_page(conn, tid, (after[0], after[1]) if after else None, limit + 1)
    items = [SeedItem(seed_id=str(r.seed_id), external_id=r.external_id, label=r.label, weight=r.weight,
                      source=r.source, created_at=r.created_at.isoformat()) for r in rows[:limit]]
    more = len(rows) > limit
    return Page[SeedItem](items=items, next_cursor=encode_cursor([items[-1].created_at, items[-1].seed_id])
                          if more else None)


@router.delete("/{seed_id}", status_code=204)
def delete_seed(tid: Tenant, conn: Conn, seed_id: uuid.UUID) -> None:
    if admin_ops.remove_seeds(conn, tid, [str(seed_id)]) == 0:
        raise ApiError(404, "not_found", f"no live seed {seed_id}")
