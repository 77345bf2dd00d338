"""What wraps every endpoint: exceptions turned into the error body, security headers, request metrics and timing."""

from __future__ import annotations

import json
import time

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .errors import HTTP_CODES, ApiError, error_body
from .metrics import Metrics

#: the web page's Content-Security-Policy: its own files only, images also from data: and blob: URLs
CSP = (
    b"default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; connect-src 'self'; "
    b"frame-ancestors 'none'"
)


def install_error_handlers(app: FastAPI, metrics: Metrics) -> None:
    """Every error, ours or FastAPI's, answered as ``{"error": {"code", "message"}}`` and counted by code."""

    def error(status: int, code: str, message: str, headers=None) -> JSONResponse:
        metrics.observe_error(code)
        return JSONResponse(error_body(code, message), status_code=status, headers=headers)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return error(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        parts = []
        for e in exc.errors():
            where = ".".join(str(p) for p in e.get("loc", ()) if p not in ("query", "path", "body"))
            parts.append(f"{where}: {e.get('msg')}" if where else str(e.get("msg")))
        return error(422, "invalid_parameter", "; ".join(parts) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        code = HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        message = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such endpoint: {request.url.path} (see /docs)"
        return error(exc.status_code, code, message, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception):
        return error(500, "internal_error", f"{type(exc).__name__}: {exc}")


class ObserveMiddleware:
    """Pure ASGI middleware: request metrics by route template, and security headers."""

    def __init__(self, app, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status = {"code": 500}
        path = scope["path"]

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-content-type-options", b"nosniff"))
                if path == "/" or path.startswith("/static/"):
                    headers.append((b"content-security-policy", CSP))
                message = dict(message, headers=headers)
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            label = getattr(route, "path", None) or ("/static" if path.startswith("/static/") else "unmatched")
            self.metrics.observe_request(scope.get("method", ""), label, status["code"], time.perf_counter() - start)
