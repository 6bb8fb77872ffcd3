"""/docs (Swagger UI) and /redoc (ReDoc) from assets shipped with the package (api/static, see VENDORED.txt):
nothing loads from a CDN or Google Fonts, so the API's documentation works on a machine with no internet."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
PREFIX = "/api-static"
SWAGGER_JS = "swagger-ui-bundle-5.35.0.js"
SWAGGER_CSS = "swagger-ui-5.35.0.css"
REDOC_JS = "redoc-2.5.4.standalone.js"
FAVICON = "favicon-32x32.png"


def install_docs(app: FastAPI) -> None:
    """Serve the interactive documentation of ``app``'s OpenAPI schema (create the app with ``docs_url=None,
    redoc_url=None``: these replace FastAPI's CDN-loading pages)."""
    app.mount(PREFIX, StaticFiles(directory=str(STATIC)), name="api-static")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        # validatorUrl None: Swagger UI would otherwise send the schema to validator.swagger.io
        return get_swagger_ui_html(openapi_url=openapi_url, title=f"{app.title}: API",
                                   swagger_js_url=f"{PREFIX}/{SWAGGER_JS}", swagger_css_url=f"{PREFIX}/{SWAGGER_CSS}",
                                   swagger_favicon_url=f"{PREFIX}/{FAVICON}",
                                   swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": True})

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url=openapi_url, title=f"{app.title}: API", redoc_js_url=f"{PREFIX}/{REDOC_JS}",
                              redoc_favicon_url=f"{PREFIX}/{FAVICON}", with_google_fonts=False)
