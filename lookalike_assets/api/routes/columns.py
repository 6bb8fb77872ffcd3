"""What a tenant's imported columns mean, as audiences described in words read them, and corrections to it."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter
from fastapi import Path as PathParam

from lookalike_assets.api.deps import Conn, Tenant
from lookalike_assets.api.errors import ApiError
from lookalike_assets.api.schemas import NOT_BLANK, ColumnEdit, ColumnOut
from lookalike_assets.db.connect import API_ROLE
from lookalike_assets.domain.meanings import MeaningError, describe_unit
from lookalike_assets.pipeline.describe import UnknownColumn, column_meanings, correct_column

router = APIRouter(prefix="/columns", tags=["columns"])
ColumnName = Annotated[str, PathParam(min_length=1, max_length=200, pattern=NOT_BLANK)]


def column_out(m) -> ColumnOut:
    return ColumnOut(column=m.field.removeprefix("attributes."), field=m.field, label=m.label,
                     description=m.description, unit=m.unit, unit_words=describe_unit(m), scale=m.scale,
                     synonyms=list(m.synonyms), kind=m.kind, corrected=not m.inferred)


def correct(conn, tid: uuid.UUID, column: str, correction: dict | None) -> ColumnOut:
    try:
        return column_out(correct_column(conn, tid, column, correction, API_ROLE))
    except UnknownColumn as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    except MeaningError as exc:
        raise ApiError(400, "invalid_column", str(exc)) from None


@router.get("")
def list_columns(tid: Tenant, conn: Conn) -> list[ColumnOut]:
    """What each imported column means: its readable name, unit, kind and the words people use for it (what
    audiences described in words match against), inferred from its name and values unless corrected."""
    return [column_out(m) for m in column_meanings(conn, tid, API_ROLE).values()]


@router.put("/{column}")
def correct_column_route(tid: Tenant, conn: Conn, column: ColumnName, body: ColumnEdit) -> ColumnOut:
    """Correct what a column means ("MntWines" is "amount spent on wine", in euros; "tenure" counts months):
    the next description reads it so. Replaces the column's earlier correction."""
    given = body.model_dump(exclude_none=True)
    if not given:
        raise ApiError(400, "invalid_column", "say what to correct: label, description, unit, scale, synonyms "
                                              "or kind")
    return correct(conn, tid, column, given)


@router.delete("/{column}")
def forget_column_correction(tid: Tenant, conn: Conn, column: ColumnName) -> ColumnOut:
    """Forget a column's correction: back to what is inferred from its name and values."""
    return correct(conn, tid, column, None)
