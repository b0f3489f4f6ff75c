"""Proof of delivery over HTTP: the upload, the protected view, and the signed file links."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from parcelstream.api.multipart import read_proof_upload
from parcelstream.api.services import services_of

_encoder = msgspec.json.Encoder()


async def post_proof(request: Request) -> Response:
    services = services_of(request)
    await services.auth.require(request, "scans:write")
    upload = await read_proof_upload(request, services.proof_limits)
    try:
        outcome = await services.proof_intake.submit(upload.scan, upload.files)
    finally:
        upload.close()
    return Response(
        _encoder.encode(
            {
                "accepted": outcome.accepted,
                "rejected": 0,
                "duplicates": outcome.duplicates,
                "errors": [],
                "files": [
                    {
                        "kind": f.kind,
                        "sha256": f.sha256,
                        "content_type": f.content_type,
                        "size": f.size,
                    }
                    for f in outcome.files
                ],
            }
        ),
        media_type="application/json",
    )


async def get_proof(request: Request) -> Response:
    services = services_of(request)
    # An Authorization header is a claim to be admin: checked, never ignored.
    admin = "authorization" in request.headers
    if admin:
        await services.auth.require(request, "admin")
    body = await services.proof_access.proof(
        request.path_params["tracking_number"], request.query_params.get("postal_code"), admin
    )
    return Response(
        body, media_type="application/json", headers={"Cache-Control": "private, no-store"}
    )


async def get_proof_file(request: Request) -> Response:
    file = await services_of(request).proof_access.open_file(request.path_params["token"])
    return StreamingResponse(
        file.chunks,
        media_type=file.content_type,
        headers={
            "Cache-Control": f"private, max-age={max(file.seconds_left, 0)}",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )
