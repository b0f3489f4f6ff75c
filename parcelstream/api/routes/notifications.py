"""Notification routes: subscribe, unsubscribe (by id or signed link), deliveries, and provider
callbacks. Thin: validation and rules live in parcelstream/notify."""

from __future__ import annotations

import html
from urllib.parse import parse_qsl

import msgspec
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from parcelstream.api.body import read_json_body
from parcelstream.api.services import services_of
from parcelstream.domain.errors import RejectedInput, Rejection
from parcelstream.domain.notifications import Subscription

_encoder = msgspec.json.Encoder()


def _json(body: object, status: int = 200) -> Response:
    return Response(_encoder.encode(body), status_code=status, media_type="application/json")


async def subscribe(request: Request) -> Response:
    services = services_of(request)
    body = await read_json_body(request, 64 * 1024)
    subscribed = await services.subscriptions.subscribe(
        body, lambda: services.auth.require(request, "packages:write")
    )
    answer = _subscription(subscribed.subscription)
    answer["unsubscribe_url"] = subscribed.unsubscribe_url
    if subscribed.subscription.secret:
        answer["secret"] = subscribed.subscription.secret  # shown once: it signs the webhooks
    return _json(answer, 201)


async def unsubscribe(request: Request) -> Response:
    removed = await services_of(request).subscriptions.unsubscribe(
        request.path_params["subscription_id"]
    )
    return _json({"unsubscribed": removed.subscription_id})


async def unsubscribe_link(request: Request) -> Response:
    """GET from a person clicking the link; POST from a mail client's one-click (RFC 8058)."""
    number, channel = await services_of(request).subscriptions.unsubscribe_by_link(
        request.path_params["token"]
    )
    if request.method == "POST":
        return _json({"unsubscribed": True, "tracking_number": number or None})
    return HTMLResponse(
        "<!doctype html><meta charset=utf-8><title>Unsubscribed</title>"
        f"<p>You will get no more {html.escape(channel)} updates about package "
        f"{html.escape(number)}.</p>"
        if number
        else "<!doctype html><meta charset=utf-8><title>Unsubscribed</title><p>Unsubscribed.</p>"
    )


async def deliveries(request: Request) -> Response:
    services = services_of(request)
    await services.auth.require(request, "admin")
    number = request.query_params.get("tracking_number")
    if not number:
        raise RejectedInput(Rejection("tracking_number", "is required", "missing"))
    return _json({"deliveries": await services.subscriptions.deliveries(number)})


async def twilio_callback(request: Request) -> Response:
    # Twilio posts application/x-www-form-urlencoded; parse_qsl needs no extra dependency.
    fields = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
    matched = await services_of(request).receipts.twilio(
        fields, request.headers.get("x-twilio-signature")
    )
    return _json({"matched": matched})


async def sendgrid_callback(request: Request) -> Response:
    body = await read_json_body(request, 4 * 1024 * 1024)
    matched = await services_of(request).receipts.sendgrid(
        body,
        request.headers.get("x-twilio-email-event-webhook-signature"),
        request.headers.get("x-twilio-email-event-webhook-timestamp"),
    )
    return _json({"matched": matched})


def _subscription(s: Subscription) -> dict[str, object]:
    return {
        "subscription_id": s.subscription_id,
        "tracking_number": s.tracking_number,
        "channel": s.channel,
        "address": s.address,
        "milestones": sorted(s.milestones),
    }
