"""GET /v1/track/{tracking_number}: stored bytes out, with ETag and Cache-Control."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from parcelstream.api.services import services_of
from parcelstream.tracking.lookup import cache_control


async def get_tracking(request: Request) -> Response:
    document = await services_of(request).lookup.find(request.path_params["tracking_number"])
    headers = {
        "ETag": document.etag,
        "Cache-Control": cache_control(document.status),
        # Public data: shippers' own pages may call the lookup from the browser.
        "Access-Control-Allow-Origin": "*",
    }
    if _matches(request.headers.get("if-none-match"), document.etag):
        return Response(status_code=304, headers=headers)
    return Response(document.body, media_type="application/json", headers=headers)


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))
