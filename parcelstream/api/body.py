"""Reading request bodies with a size cap, so an oversized upload is refused before it is held."""

from __future__ import annotations

from starlette.requests import Request

from parcelstream.domain.errors import RejectedInput, Rejection


async def read_json_body(request: Request, limit: int) -> bytes:
    # The body is parsed as JSON whatever Content-Type says: scanners and curl often send none.
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RejectedInput(_too_large(limit))
    chunks = bytearray()
    async for chunk in request.stream():
        chunks.extend(chunk)
        if len(chunks) > limit:
            raise RejectedInput(_too_large(limit))
    return bytes(chunks)


def _too_large(limit: int) -> Rejection:
    return Rejection(None, f"the body is larger than {limit} bytes", "body_too_large")
