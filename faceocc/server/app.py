"""The faceocc HTTP service: ``create_app(ServerSettings(...))`` -> a FastAPI app, wired from the modules beside it.

Endpoints (all JSON unless said otherwise; errors are ``{"error": {"code", "message"}}``,
see :mod:`faceocc.server.errors`):

- ``POST /v1/analyze``          one image (multipart field ``file``, or the raw bytes as the body)
- ``POST /v1/analyze/batch``    several images (multipart, every file part is one image)
- ``POST /v1/jobs``             a video job: an upload, or ``{"path": ...}`` under the configured jobs root
- ``GET  /v1/jobs``, ``GET /v1/jobs/{id}``, ``GET /v1/jobs/{id}/results``, ``DELETE /v1/jobs/{id}``
- ``GET  /health`` (liveness), ``GET /ready`` (readiness), ``GET /metrics`` (Prometheus text)
- ``GET  /`` the web page, ``/docs`` and ``/openapi.json``

Query options of the analyze endpoints and jobs: ``threshold`` (0-1, default the
model's), ``eyeglasses_occlude``, ``include_map`` (the raw occlusion map per face) and
``overlay`` (drawing data in image coordinates: heat overlay PNG, covered-part
outlines, crop->image matrix; see :mod:`faceocc.server.overlay`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from .. import __version__
from . import routes_images, routes_jobs, routes_ops
from .guards import RequestGuard
from .middleware import ObserveMiddleware, install_error_handlers
from .service import Service
from .settings import ServerSettings

STATIC_DIR = Path(__file__).parent / "static"


def local_swagger_ui() -> str | None:
    """Folder of the Swagger UI files shipped by the ``swagger-ui-bundle`` package (None when it is not installed)."""
    try:
        import swagger_ui_bundle
    except ImportError:
        return None
    path = Path(swagger_ui_bundle.swagger_ui_path)
    return str(path) if (path / "swagger-ui-bundle.js").is_file() else None


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    """The faceocc FastAPI application (loads the model now; raises ModelError for a bad one)."""
    service = Service(settings or ServerSettings())

    @asynccontextmanager
    async def lifespan(app):
        yield
        await asyncio.to_thread(service.close)  # drains the video jobs; may take up to drain_timeout

    swagger_dir = local_swagger_ui()
    app = FastAPI(
        title="faceocc",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        description="Is each face occluded, by what, where and how much, and usable for face recognition? "
        'Errors are `{"error": {"code": ..., "message": ...}}` with a stable code.',
    )
    app.state.service = service
    install_error_handlers(app, service.metrics)
    app.add_middleware(RequestGuard, metrics=service.metrics, allowed_hosts=service.settings.allowed_hosts)
    app.add_middleware(ObserveMiddleware, metrics=service.metrics)
    for module in (routes_images, routes_jobs, routes_ops):
        app.include_router(module.router)
    _add_page(app)
    _add_docs(app, swagger_dir)
    return app


def _add_page(app: FastAPI) -> None:
    """The web page at ``/`` and its files under ``/static``."""

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(
            STATIC_DIR / "index.html", media_type="text/html; charset=utf-8", headers={"Cache-Control": "no-cache"}
        )

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


def docs_csp(html: str, assets: str) -> str:
    """The Content-Security-Policy of the docs page: scripts from ``assets`` plus its one inline script, by hash."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(m.encode()).digest()).decode() + "'"
        for m in re.findall(r"<script>(.*?)</script>", html, flags=re.S)
    )
    return (
        f"default-src 'self'; script-src {assets} {hashes}; style-src {assets} 'unsafe-inline'; "
        f"img-src data: {assets}; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )


def _add_docs(app: FastAPI, swagger_dir: str | None) -> None:
    """The API docs page at ``/docs``, from local files when ``swagger-ui-bundle`` is installed (no CDN, works
    offline), under a CSP that allows only those files and the page's own inline script."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import HTMLResponse

    if swagger_dir:
        app.mount("/swagger-ui", StaticFiles(directory=swagger_dir), name="swagger-ui")
        urls: dict[str, Any] = {
            "swagger_js_url": "/swagger-ui/swagger-ui-bundle.js",
            "swagger_css_url": "/swagger-ui/swagger-ui.css",
            "swagger_favicon_url": "/swagger-ui/favicon-32x32.png",
        }
        assets = "'self'"
    else:  # FastAPI's defaults: a CDN
        urls, assets = {}, "'self' https://cdn.jsdelivr.net https://fastapi.tiangolo.com"
    html = bytes(get_swagger_ui_html(openapi_url="/openapi.json", title="faceocc API", **urls).body).decode()
    headers = {"Content-Security-Policy": docs_csp(html, assets)}

    @app.get("/docs", include_in_schema=False)
    async def docs():
        return HTMLResponse(html, headers=headers)
