"""Keyset pages: a page of items and an opaque cursor holding the position after its last item."""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from lookalike_assets.api.errors import ApiError

CURSOR = r"^[A-Za-z0-9_-]+={0,2}$"
Cursor = Annotated[str | None, Query(max_length=2000, pattern=CURSOR, description="next_cursor of the previous page")]
Limit = Annotated[int, Query(ge=1, le=1000, description="items per page")]


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(position: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(position, default=str).encode()).decode()


def decode_cursor(cursor: str | None, *types: type | tuple[type, ...]) -> list | None:
    """The position a cursor holds: a list of values of these types (what ``encode_cursor`` wrote), else a 400."""
    if not cursor:
        return None
    try:
        after = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError):
        after = None
    if not (isinstance(after, list) and len(after) == len(types)
            and all(isinstance(v, t) and not isinstance(v, bool) for v, t in zip(after, types))):
        raise invalid_cursor()
    return after


def invalid_cursor() -> ApiError:
    return ApiError(400, "invalid_cursor", "the cursor is not one this API returned", "cursor")
