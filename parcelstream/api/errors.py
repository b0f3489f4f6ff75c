"""The one place where refusals become HTTP: status by code, and the JSON error shape."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from parcelstream.domain.errors import RejectedInput, Rejection

_STATUS_BY_CODE = {
    "malformed_json": 400,
    "malformed": 400,
    "disconnected": 400,
    "malformed_tracking_number": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "stale_push": 409,
    "batch_too_large": 413,
    "body_too_large": 413,
    "unsupported_media_type": 415,
    "file_too_large": 413,
    "too_many_attempts": 429,
}

_encoder = msgspec.json.Encoder()


def error_response(*rejections: Rejection, headers: dict[str, str] | None = None) -> Response:
    first = rejections[0]
    body: dict[str, object] = {
        "error": {"code": first.code, "field": first.field, "reason": first.reason}
    }
    if len(rejections) > 1:
        body["errors"] = [
            {"code": r.code, "field": r.field, "reason": r.reason} for r in rejections
        ]
    return Response(
        _encoder.encode(body),
        status_code=_STATUS_BY_CODE.get(first.code, 422),
        media_type="application/json",
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


async def rejected_input_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RejectedInput)
    headers = {"WWW-Authenticate": "Bearer"} if exc.rejections[0].code == "unauthorized" else None
    return error_response(*exc.rejections, headers=headers)


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 answers, in our JSON error shape."""
    status = getattr(exc, "status_code", 500)
    code = {404: "not_found", 405: "method_not_allowed"}.get(status, "http_error")
    response = error_response(Rejection(None, str(getattr(exc, "detail", code)), code))
    response.status_code = status
    return response


async def client_gone_handler(request: Request, exc: Exception) -> Response:
    """The client went away mid-body (a handheld killed or out of coverage): nothing of the request
    was taken, nobody reads the answer, and it is no reason for a traceback in the log."""
    return error_response(
        Rejection(None, "the client went away before the body was complete", "disconnected")
    )


async def unexpected_error_handler(request: Request, exc: Exception) -> Response:
    """Anything unforeseen: logged in full by Starlette, answered as JSON without internals."""
    response = error_response(
        Rejection(None, "the server failed to handle this request; it has been logged", "internal")
    )
    response.status_code = 500
    return response
