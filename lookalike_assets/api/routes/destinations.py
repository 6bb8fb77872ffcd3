"""A tenant's destinations: the ad platforms and endpoints its published audiences are synced to."""

from __future__ import annotations

import uuid

import psycopg
from fastapi import APIRouter
from fastapi.encoders import jsonable_encoder

from lookalike_assets.api.deps import Conn, Tenant
from lookalike_assets.api.errors import ApiError
from lookalike_assets.api.schemas import DestinationEdit, DestinationIn, DestinationOut
from lookalike_assets.db.connect import API_ROLE
from lookalike_assets.pipeline import destinations as ops
from lookalike_assets.pipeline.admin import AdminError, AlreadyExists
from lookalike_assets.settings import get_settings

router = APIRouter(prefix="/destinations", tags=["destinations"])


def destination_out(d: dict) -> DestinationOut:
    last = None if d.get("last_status") is None else {
        "status": d["last_status"], "finished_at": d["last_finished_at"], "added": d["last_added"],
        "removed": d["last_removed"], "error": d["last_error"]}
    return DestinationOut(destination_id=str(d["destination_id"]), name=d["name"], platform=d["platform"],
                          options=d["options"] or {}, status=d["status"], paused_reason=d.get("paused_reason"),
                          last_sync=jsonable_encoder(last))


def destination_of(conn: psycopg.Connection, tid: uuid.UUID, destination_id: uuid.UUID) -> dict:
    found = next((d for d in ops.list_destinations(conn, tid, API_ROLE) if d["destination_id"] == destination_id),
                 None)
    if found is None:
        raise ApiError(404, "not_found", f"no destination {destination_id}")
    return found


def refused(exc: AdminError) -> ApiError:
    if isinstance(exc, AlreadyExists):
        return ApiError(409, "conflict", str(exc))
    return ApiError(400, "invalid_destination", str(exc))


@router.get("")
def list_destinations(tid: Tenant, conn: Conn) -> list[DestinationOut]:
    """The tenant's destinations with their state and last sync; never their credentials."""
    return [destination_out(d) for d in ops.list_destinations(conn, tid, API_ROLE)]


@router.post("", status_code=201)
def add_destination(tid: Tenant, conn: Conn, body: DestinationIn) -> DestinationOut:
    """A destination of the tenant; its credentials are sealed at once (only the pipeline, which syncs, reads
    them). Name it in an audience's rules as ``{"destination": NAME}``."""
    try:
        did = ops.add_destination(conn, tid, body.name, body.platform, body.options.model_dump(),
                                  {k: v or "" for k, v in body.credentials.model_dump().items()},
                                  get_settings().secret_value())
    except AdminError as exc:
        raise refused(exc) from None
    return destination_out(destination_of(conn, tid, did))


@router.patch("/{destination_id}")
def edit_destination(tid: Tenant, conn: Conn, destination_id: uuid.UUID, body: DestinationEdit) -> DestinationOut:
    """Rename it, change its options, replace its credentials or resume it after failed syncs."""
    destination_of(conn, tid, destination_id)
    try:
        ops.update_destination(conn, tid, str(destination_id), get_settings().secret_value(), name=body.name,
                               options=body.options.model_dump(exclude_unset=True) if body.options else None,
                               credentials={k: v for k, v in body.credentials.model_dump().items() if v}
                               if body.credentials else None, resume=body.resume)
    except AdminError as exc:
        raise refused(exc) from None
    return destination_out(destination_of(conn, tid, destination_id))


@router.delete("/{destination_id}", status_code=204)
def delete_destination(tid: Tenant, conn: Conn, destination_id: uuid.UUID) -> None:
    """Forget a destination and its sync history (the platform keeps what it received)."""
    destination_of(conn, tid, destination_id)
    ops.remove_destination(conn, tid, str(destination_id))
