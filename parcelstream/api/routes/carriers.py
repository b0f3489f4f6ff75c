"""Carrier pushes, the token endpoint UPS calls before pushing, and the metrics they feed: thin
translation between HTTP and the carrier webhook service."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from parcelstream.api.body import read_json_body
from parcelstream.api.services import services_of
from parcelstream.carriers.webhooks import TokenRefused
from parcelstream.metrics import exposition

_encoder = msgspec.json.Encoder()
_NO_STORE = {"Cache-Control": "no-store"}


async def carrier_push(request: Request) -> Response:
    services = services_of(request)
    body = await read_json_body(request, services.settings.max_body_bytes)
    outcome = await services.carrier_webhooks.receive(
        request.path_params["carrier_id"], request.headers, body
    )
    return Response(
        _encoder.encode(
            {
                "accepted": outcome.accepted,
                "duplicates": outcome.duplicates,
                "rejected": len(outcome.rejected),
                "errors": [
                    {"path": r.path, "field": r.field, "reason": r.reason, "code": "malformed"}
                    for r in outcome.rejected
                ],
            }
        ),
        media_type="application/json",
        headers=_NO_STORE,
    )


async def ups_token(request: Request) -> Response:
    services = services_of(request)
    body = await read_json_body(request, 64 * 1024)
    try:
        issued = services.carrier_webhooks.issue_ups_token(request.headers, body)
    except TokenRefused as exc:
        headers = {**_NO_STORE, "WWW-Authenticate": "Basic"} if exc.status == 401 else _NO_STORE
        return Response(
            _encoder.encode({"error": exc.error, "error_description": exc.description}),
            status_code=exc.status,
            media_type="application/json",
            headers=headers,
        )
    return Response(
        _encoder.encode(
            {
                "access_token": issued.access_token,
                "token_type": issued.token_type,
                "expires_in": issued.expires_in,
            }
        ),
        media_type="application/json",
        headers=_NO_STORE,
    )


async def metrics(request: Request) -> Response:
    body, content_type = exposition()
    return Response(body, headers={"Content-Type": content_type, **_NO_STORE})
