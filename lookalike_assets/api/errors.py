"""The API's errors: one JSON shape (``code``, ``message``, ``field``) for every failure, whoever raises it (a
route, the framework, the database driver, the connection pool)."""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match


class ApiError(HTTPException):
    """What a route refuses: an HTTP status, a stable ``code`` and, when the error is about one, the field."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(status, message)
        self.code, self.field = code, field


class ErrorOut(BaseModel):
    code: str = Field(description="stable: unauthenticated, invalid_key, forbidden, not_found, invalid_request, "
                                  "conflict, not_ready, rate_limited, ...")
    message: str
    field: str | None = Field(default=None, description="the field a validation error is about")


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": text} for status, text in (
        (400, "The request is well-formed but the data says no (an unknown lead, an invalid rule)."),
        (401, "No API key or token, or one that is unknown, revoked or expired."),
        (403, "The key or token is of another tenant."),
        (404, "No such thing in this tenant."),
        (409, "Not possible in the current state (exists already, not published, not built yet, or an audience "
              "rebuilt between two pages: `audience_changed`, start again without a cursor)."),
        (422, "The request does not match the schema: `field` names the first bad field."),
        (413, "The request body is over the size limit (10 MB): `too_large`."),
        (429, "Too many requests with this key: `rate_limited`, retry after `Retry-After` seconds."),
        (503, "The database cannot be reached just now (`unavailable`): retry after `Retry-After` seconds."),
    )
}


def error_response(status: int, code: str, message: str, field: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if field:
        body["field"] = field
    return JSONResponse(body, status_code=status, headers=headers)


def allowed_methods(app: FastAPI, scope) -> set[str]:
    """Every method the request's path has (for a 405's ``Allow``), not only the first matching route's."""
    return {m for route in app.router.routes if route.matches(scope)[0] == Match.PARTIAL
            for m in (getattr(route, "methods", None) or ())}


def known_query_parameters(request: Request) -> None:
    """A query parameter the operation does not have is refused (400 ``unknown_parameter``), not ignored: a
    misspelt ``min_scroe`` would otherwise return an unfiltered answer as if it had been applied."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    known: set[str] = set()
    stack = [dependant]
    while stack:
        d = stack.pop()
        known.update(f.alias for f in d.query_params)
        stack.extend(d.dependencies)
    for name in request.query_params:
        if name not in known:
            raise ApiError(400, "unknown_parameter", f"unknown query parameter {name!r}"
                           + (f"; this operation takes {', '.join(sorted(known))}" if known else
                              "; this operation takes none"), name or None)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_req, exc: ApiError):
        return error_response(exc.status_code, exc.code, exc.detail, exc.field, exc.headers)

    @app.exception_handler(StarletteHTTPException)  # the framework's own (404, 405, a body that is not JSON)
    async def _http_error(req: Request, exc: StarletteHTTPException):
        code = {400: "invalid_body", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error")
        response = error_response(exc.status_code, code, str(exc.detail))
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:
            response.headers["Allow"] = ", ".join(sorted(allowed_methods(app, req.scope)))
        return response

    @app.exception_handler(PoolTimeout)
    @app.exception_handler(psycopg.OperationalError)
    async def _unavailable(_req, exc: Exception):
        # the database is down or every connection busy: the caller may retry; never the driver's words
        return error_response(503, "unavailable", "the service cannot reach its database just now; try again "
                              "shortly", headers={"Retry-After": "5"})

    @app.exception_handler(psycopg.DataError)
    async def _bad_value(_req, exc: psycopg.DataError):
        # a value the database cannot hold (a NUL character in free text, a number out of range): the caller's
        return error_response(400, "invalid_value", f"a value cannot be stored: {type(exc).__name__}")

    @app.exception_handler(RequestValidationError)
    async def _invalid(_req, exc: RequestValidationError):
        rules = [e for e in exc.errors() if tuple(e.get("loc", ()))[:2] == ("body", "rules")]
        if rules:  # an audience's rules: the same answer as rules the domain refuses, every problem named
            return error_response(400, "invalid_audience", "; ".join(
                str(e.get("msg", "invalid")).removeprefix("Value error, ") if len(e["loc"]) == 2
                else f"rules.{'.'.join(str(x) for x in e['loc'][2:])}: {e.get('msg', 'invalid')}" for e in rules[:10]),
                "rules")
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(x) for x in first.get("loc", ()) if x not in ("body", "query", "path")]
        return error_response(422, "invalid_request", f"{'.'.join(loc) or 'request'}: {first.get('msg', 'invalid')}",
                              ".".join(loc) or None)
