"""The API's documentation page, served with its assets: nothing is loaded from the
internet.

``GET /docs`` is Swagger UI over ``/openapi.json``; its script, style sheet and icon come
from ``GET /docs/assets/{name}``, files of the ``swagger-ui-bundle`` package (a dependency
in pyproject.toml, installed with the node), read once and kept in memory. Swagger UI's
online validator is switched off (``validatorUrl: null``), so the page makes no request
to another host. ReDoc (FastAPI's ``/redoc``, which loads from a CDN) is not served.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse, Response

from ledger.api_errors import error_body, status_of

__all__ = ["ASSETS", "DOCS_PATH", "add_docs"]

DOCS_PATH = "/docs"
#: asset name -> media type (every file the page loads)
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}


def _bundle_dir() -> Path:
    import swagger_ui_bundle

    return Path(swagger_ui_bundle.swagger_ui_path)


@cache
def _asset(name: str) -> bytes:
    return (_bundle_dir() / name).read_bytes()


def add_docs(app: FastAPI, title: str) -> None:
    """Serve ``/docs`` and its assets on ``app`` (created with ``docs_url=None``)."""

    @app.get(DOCS_PATH, include_in_schema=False)
    def docs() -> Response:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{title} - API",
            swagger_js_url=f"{DOCS_PATH}/assets/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_PATH}/assets/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_PATH}/assets/favicon-32x32.png",
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get(f"{DOCS_PATH}/assets/{{name}}", include_in_schema=False)
    def docs_asset(name: str) -> Response:
        media = ASSETS.get(name)
        if media is None:
            return JSONResponse(error_body("not_found", f"no documentation asset {name!r}"),
                                status_code=status_of("not_found"))
        return Response(_asset(name), media_type=media,
                        headers={"Cache-Control": "public, max-age=86400",
                                 "X-Content-Type-Options": "nosniff"})
