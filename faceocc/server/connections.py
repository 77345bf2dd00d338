"""The HTTP connections of ``faceocc serve``: uvicorn's h11 protocol plus a header-read timeout (slow-loris guard).

uvicorn times out idle keep-alive connections but not a request whose headers arrive a byte at a time; enough such
connections fill its connection cap and every request, ``/health`` included, is answered 503. Here a connection that
has not sent a complete request head within ``header_timeout`` seconds (from connecting, or from the end of the
previous response) is answered 408 and closed; one whose response is sent while it is still dripping the request body
is closed after the same time. Request bodies have their own timeouts in the app (:mod:`faceocc.server.requests`).

>>> config = uvicorn.Config(app, http=header_timeout_protocol(10.0))
"""

from __future__ import annotations

import asyncio
import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from .errors import error_body


class HeaderTimeoutProtocol(H11Protocol):
    """uvicorn's h11 protocol that closes connections whose request head does not arrive in time."""

    header_timeout: float = 10.0
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        super().connection_lost(exc)

    def _waiting_on_client(self) -> bool:
        """True while the client owes us a request head (or, after our response, the rest of its body)."""
        their, ours = self.conn.their_state, self.conn.our_state
        return their is h11.IDLE or (their is h11.SEND_BODY and ours in (h11.DONE, h11.MUST_CLOSE, h11.CLOSED))

    def _watch(self) -> None:
        """Start the clock when the client starts owing us something; stop it when it has delivered."""
        if self.transport.is_closing() or not self._waiting_on_client():
            self._stop_timer()
        elif self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._expire)

    def _stop_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _expire(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or not self._waiting_on_client():
            return
        if self.conn.their_state is h11.IDLE and self.conn.trailing_data[0]:
            # part of a request head arrived: say why the connection ends
            body = json.dumps(
                error_body(
                    "request_timeout",
                    f"the request headers did not arrive within {self.header_timeout:g} s; the connection is closed",
                )
            ).encode()
            self.transport.write(
                b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
                b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
            )
        self.transport.close()


def header_timeout_protocol(timeout: float) -> type[HeaderTimeoutProtocol]:
    """The protocol class to give ``uvicorn.Config(http=...)``, with this header timeout in seconds."""
    if not timeout > 0:
        raise ValueError(f"header timeout must be positive, got {timeout}")
    return type("HeaderTimeoutProtocol", (HeaderTimeoutProtocol,), {"header_timeout": float(timeout)})
