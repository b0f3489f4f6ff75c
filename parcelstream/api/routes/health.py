"""Liveness (no work at all) and readiness (every store answers)."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from parcelstream.api.services import services_of

_OK = b'{"status":"ok"}'


async def healthz(request: Request) -> Response:
    return Response(_OK, media_type="application/json")


async def readyz(request: Request) -> Response:
    try:
        await services_of(request).ping()
    except Exception as exc:
        body = msgspec.json.encode(
            {"status": "unavailable", "reason": f"{type(exc).__name__}: {exc}"}
        )
        return Response(body, status_code=503, media_type="application/json")
    return Response(_OK, media_type="application/json")
