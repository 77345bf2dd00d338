"""Structured errors: every error response is ``{"error": {"code": "stable_code", "message": "..."}}``.

The codes are a stable contract (clients branch on them; messages may change):

=====================  ====  ==========================================================
code                   HTTP  meaning
=====================  ====  ==========================================================
bad_request            400   malformed request (e.g. broken multipart)
empty_body             400   no bytes were sent
missing_file           400   a multipart request without a file part
too_many_files         400   more images in a batch than the server allows
host_not_allowed       400   the Host header is not one the server answers to (``--allowed-host``)
invalid_parameter      422   a query parameter or JSON field is invalid
unauthorized           401   API key missing or wrong
path_not_allowed       403   a server-side path outside the jobs root (or none configured)
cross_origin           403   a browser request from another origin that would change state
not_found              404   unknown URL
job_not_found          404   unknown job id
file_not_found         404   a server-side video that does not exist
method_not_allowed     405   wrong HTTP method
request_timeout        408   the headers or body did not arrive within the timeout (slow client)
job_not_finished       409   results asked for a job that is still queued or running
payload_too_large      413   the body is larger than the upload limit
image_too_large        413   more pixels (or JPEG scans) than allowed, checked before decoding
unsupported_media_type 415   a content type that is neither an image, octet-stream nor multipart
unreadable_image       422   the bytes are not an image faceocc can decode
unreadable_video       422   not a self-contained video container, or it cannot be opened
overloaded             429   too many requests in flight; retry after ``Retry-After`` seconds
internal_error         500   a bug: the message says what failed
queue_full             503   the video job queue is full; retry later
not_ready              503   the model is not loaded (yet)
timeout                504   the analysis took longer than the timeout
=====================  ====  ==========================================================

A job's own ``error`` uses the same codes, plus ``interrupted``: the server stopped (crash, restart or SIGTERM past
the drain deadline) before the job finished.
"""

from __future__ import annotations


class ApiError(Exception):
    """An error answered to the client with a stable code."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_parameter",
    429: "overloaded",
    500: "internal_error",
    503: "not_ready",
    504: "timeout",
}


def error_body(code: str, message: str) -> dict:
    """The body of every error response."""
    return {"error": {"code": code, "message": message}}
