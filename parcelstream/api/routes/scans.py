"""POST /v1/scans and POST /v1/packages: thin translation between HTTP and the ingest services."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from parcelstream.api.body import read_json_body
from parcelstream.api.services import services_of

_encoder = msgspec.json.Encoder()


async def post_scans(request: Request) -> Response:
    services = services_of(request)
    await services.auth.require(request, "scans:write")
    body = await read_json_body(request, services.settings.max_body_bytes)
    outcome = await services.scan_intake.submit(body)
    return Response(
        _encoder.encode(
            {
                "accepted": outcome.accepted,
                "rejected": outcome.rejected,
                "duplicates": outcome.duplicates,
                "errors": [
                    {"index": e.index, "field": e.field, "reason": e.reason, "code": e.code}
                    for e in outcome.errors
                ],
            }
        ),
        media_type="application/json",
    )


async def post_package(request: Request) -> Response:
    services = services_of(request)
    await services.auth.require(request, "packages:write")
    body = await read_json_body(request, services.settings.max_body_bytes)
    package = await services.package_registry.register(body)
    return Response(
        _encoder.encode(
            {
                "tracking_number": package.tracking_number,
                "carrier": package.carrier,
                "tracking_url": f"/v1/track/{package.tracking_number}",
            }
        ),
        status_code=202,
        media_type="application/json",
        headers={"Location": f"/v1/track/{package.tracking_number}"},
    )
