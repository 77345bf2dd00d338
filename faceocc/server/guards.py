"""Checks every request passes before any endpoint sees it: unambiguous framing, an allowed ``Host``, and no
cross-origin writes from a browser.

- a request with both ``Transfer-Encoding`` and ``Content-Length`` is answered 400 and its connection closed (a proxy
  in front may frame it the other way: request smuggling);
- with ``allowed_hosts`` set, any other ``Host`` header is answered 400 (a DNS-rebinding page cannot reach a
  loopback service under its own name);
- a POST, PUT, PATCH or DELETE whose ``Origin`` is not this server's own (or whose ``Sec-Fetch-Site`` says
  cross-site) is answered 403: a page elsewhere cannot make a visitor's browser submit uploads or jobs. Clients that
  are not browsers send no ``Origin`` and are not affected.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from .errors import error_body
from .metrics import Metrics

_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
_DEFAULT_PORTS = {"http": "80", "https": "443"}


def host_name(host: str) -> str:
    """The name part of a ``Host`` header value, lower case, without the port (``[::1]:8000`` -> ``::1``)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    """``host`` (a Host header value) matches one of ``allowed`` (names; ``*.example.com``; ``*`` for any)."""
    name = host_name(host)
    if not name:
        return False
    for pattern in allowed:
        pattern = host_name(pattern) if not pattern.startswith("*") else pattern
        if pattern == "*" or name == pattern:
            return True
        if pattern.startswith("*.") and name.endswith(pattern[1:]):
            return True
    return False


def same_origin(origin: str, host: str, scheme: str) -> bool:
    """The ``Origin`` header names this server (scheme, host and port of the request)."""
    if not origin or origin == "null":
        return False
    parts = urlsplit(origin)
    if parts.scheme != scheme or not parts.netloc:
        return False
    default = _DEFAULT_PORTS.get(scheme, "")

    def norm(netloc: str) -> str:
        netloc = netloc.lower()
        return netloc[: -len(default) - 1] if default and netloc.endswith(":" + default) else netloc

    return norm(parts.netloc) == norm(host.strip())


class RequestGuard:
    """Pure ASGI middleware applying the checks above (answers in the service's error format)."""

    def __init__(self, app, metrics: Metrics, allowed_hosts: tuple[str, ...] | None):
        self.app = app
        self.metrics = metrics
        self.allowed_hosts = allowed_hosts

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        refusal = self.refusal(scope)
        if refusal is None:
            return await self.app(scope, receive, send)
        status, code, message, close = refusal
        self.metrics.observe_error(code)
        body = json.dumps(error_body(code, message)).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if close:
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def refusal(self, scope) -> tuple[int, str, str, bool] | None:
        """(status, code, message, close the connection) for a request to refuse, else None."""
        headers: dict[bytes, list[bytes]] = {}
        for name, value in scope.get("headers", ()):
            headers.setdefault(name.lower(), []).append(value)
        if b"transfer-encoding" in headers and b"content-length" in headers:
            return 400, "bad_request", "both Transfer-Encoding and Content-Length are set: ambiguous framing", True
        if len(set(headers.get(b"content-length", []))) > 1:
            return 400, "bad_request", "conflicting Content-Length headers", True
        host = b",".join(headers.get(b"host", [])).decode("latin-1")
        if self.allowed_hosts is not None and not host_allowed(host, self.allowed_hosts):
            return (
                400,
                "host_not_allowed",
                f"Host {host!r} is not served here (allowed: {', '.join(self.allowed_hosts)}; see --allowed-host)",
                False,
            )
        if scope.get("method", "GET") not in _SAFE_METHODS:
            origin = headers.get(b"origin")
            site = b",".join(headers.get(b"sec-fetch-site", [])).decode("latin-1").lower()
            cross = site == "cross-site" or (
                origin is not None and not same_origin(origin[0].decode("latin-1"), host, scope.get("scheme", "http"))
            )
            if cross:
                return 403, "cross_origin", "cross-origin requests that change state are refused", False
        return None
