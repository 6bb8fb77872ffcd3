"""ASGI middleware of the API."""

from __future__ import annotations

from lookalike_assets.api.errors import error_response

MAX_BODY_BYTES = 10 * 1024 * 1024  # a request body above this is refused (413) before it is read whole


class BodyLimit:
    """A request whose body is over ``limit`` bytes (by its Content-Length, or as it streams in) answers 413
    ``too_large`` without the application reading it. ``paths`` gives some paths their own limit (the studio's
    file upload)."""

    def __init__(self, app, limit: int = MAX_BODY_BYTES, paths: dict[str, int] | None = None) -> None:
        self.app, self.default, self.paths = app, limit, paths or {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.paths.get(scope.get("path", ""), self.default)
        length = dict(scope.get("headers") or []).get(b"content-length")
        too_large = error_response(413, "too_large", f"the request body is over {limit // (1024 * 1024)} MB")
        if length is not None and (not length.isdigit() or int(length) > limit):
            return await too_large(scope, receive, send)
        seen = 0

        async def limited():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge()
            return message

        try:
            return await self.app(scope, limited, send)
        except _TooLarge:
            return await too_large(scope, receive, send)


class _TooLarge(Exception):
    pass
