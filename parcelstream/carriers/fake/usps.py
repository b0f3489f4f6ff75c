"""A fake USPS, written from SPEC §4: OAuth token (JSON or form body; `tracking` scope),
Tracking v3 DETAIL (local `eventTimestamp` without offset, optional GMT fields, string booleans),
the v3r2 batch (at most 35, 207 on partial success), 429 with `Retry-After`, subscriptions, and
pushes: an envelope with the TrackingDetails as a JSON string, signed
`X-HMAC` = base64 HMAC-SHA256(secret, timestamp + payload)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx2
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from parcelstream.carriers.fake.base import FakeCarrier, Push, form_of
from parcelstream.carriers.fake.journeys import Event, Journey

# Our scan code -> (eventCode, eventType, statusCategory), SPEC §4.5.
CODES: dict[str, tuple[str, str, str]] = {
    "LABEL_CREATED": ("GX", "Shipping Label Created, USPS Awaiting Item", "Pre-Shipment"),
    "PICKED_UP": ("03", "USPS in possession of item", "Accepted"),
    "ARRIVED_AT_FACILITY": ("A1", "Arrived at USPS Regional Facility", "In Transit"),
    "DEPARTED_FACILITY": ("T1", "Departed USPS Regional Facility", "In Transit"),
    "PROCESSED_AT_FACILITY": ("PC", "Processing Complete", "In Transit"),
    "IN_TRANSIT": ("TL", "In Transit to Next Facility", "In Transit"),
    "OUT_FOR_DELIVERY": ("OF", "Out for Delivery", "Out for Delivery"),
    "DELIVERED": ("01", "Delivered, Left with Individual", "Delivered"),
    "DELIVERY_ATTEMPTED": (
        "56",
        "Notice Left (No Authorized Recipient Available)",
        "Delivery Attempt",
    ),
}
EXCEPTIONS: dict[str | None, tuple[str, str, str]] = {
    "WEATHER_DELAY": ("71", "Rescheduled to Next Delivery Day", "Alert"),
    "ADDRESS_ISSUE": ("05", "Undeliverable as Addressed", "Alert"),
    "RETURNED_TO_SENDER": ("09", "Return to Sender", "Alert"),
    "DAMAGED": ("DX", "Delivery Status Not Updated", "Alert"),
    "CUSTOMS_HOLD": ("DX", "Delivery Status Not Updated", "Alert"),
    None: ("DX", "Delivery Status Not Updated", "Alert"),
}


def code_of(event: Event) -> tuple[str, str, str]:
    if event.status_code == "EXCEPTION":
        return EXCEPTIONS.get(event.exception_code, EXCEPTIONS[None])
    return CODES[event.status_code]


def tracking_event(event: Event, *, with_gmt: bool) -> dict[str, Any]:
    code, words, _ = code_of(event)
    found: dict[str, Any] = {
        "eventType": words,
        "eventTimestamp": event.at.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    if with_gmt:
        offset = event.at.strftime("%z")
        found["GMTTimestamp"] = event.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        found["GMTOffset"] = f"{offset[:3]}:{offset[3:]}"
    found |= {
        "eventCountry": None,
        "eventCity": event.city.upper() if event.city else None,
        "eventState": event.region,
        "eventZIP": event.postal_code,
        "firm": None,
        "name": event.signed_by if event.status_code == "DELIVERED" else None,
        "authorizedAgent": "false",
        "eventCode": code,
    }
    return found


def details(journey: Journey, events: list[Event], *, full: bool = True) -> dict[str, Any]:
    """TrackingDetails for `events` (newest first). The label event carries no GMT fields, as in
    USPS's own responses, so the receiver must find its zone from the place."""
    last = events[-1]
    _, words, category = code_of(last)
    body: dict[str, Any] = {
        "trackingNumber": journey.tracking_number,
        "status": words,
        "statusCategory": category,
        "statusSummary": f"{words} in {(last.city or '').upper()}, {last.region or ''}.",
        "trackingEvents": [
            tracking_event(e, with_gmt=e.status_code != "LABEL_CREATED") for e in reversed(events)
        ],
    }
    if full:
        body |= {
            "mailClass": "Priority Mail<SUP>&#174;</SUP>",
            "mailType": "DM",
            "proofOfDeliveryEnabled": "true",
            "emailEnabled": "true",
        }
        if journey.destination is not None:
            body |= {
                "destinationCity": journey.destination.city.upper(),
                "destinationState": journey.destination.region,
                "destinationZIP": journey.destination.postal_code,
            }
    return body


def sign(secret: str, timestamp: str, payload: str) -> str:
    digest = hmac.new(secret.encode(), (timestamp + payload).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class FakeUsps(FakeCarrier):
    carrier = "usps"
    token_path = "/oauth2/v3/token"
    token_lifetime = 28799.0
    default_retries = 3
    scopes = "addresses tracking subscriptions-tracking labels"
    hmac_header = "X-HMAC"

    def error_body(self, status: int, code: str | None = None, message: str | None = None) -> Any:
        titles = {
            400: "Bad Request",
            401: "Unauthorized",
            403: "Forbidden",
            404: "Not Found",
            429: "Too Many Requests.",
            503: "Service Unavailable",
        }
        text = message or (
            "Exceeded quota limit. Please try again later."
            if status == 429
            else titles.get(status, "Server error")
        )
        return {
            "apiVersion": "/tracking/v3",
            "error": {
                "code": code or str(status),
                "message": text,
                "errors": [
                    {
                        "status": str(status),
                        "code": code or str(status),
                        "title": titles.get(status, "Error"),
                        "detail": text,
                    }
                ],
            },
        }

    def routes(self) -> list[Route]:
        return [
            Route(self.token_path, self._token, methods=["POST"]),
            Route("/tracking/v3/tracking/{number}", self._track, methods=["GET"]),
            Route("/tracking/v3r2/tracking", self._track_batch, methods=["POST"]),
            Route("/subscriptions-tracking/v3/subscriptions", self._subscribe, methods=["POST"]),
        ]

    async def _token(self, request: Request) -> Response:
        self.stats.token_requests += 1
        if (fault := await self.faulted("token")) is not None:
            return fault
        raw = await request.body()
        if request.headers.get("content-type", "").startswith("application/json"):
            try:
                fields = json.loads(raw)
            except ValueError:
                fields = {}
        else:
            fields = await form_of(request)
        if fields.get("grant_type") != "client_credentials" or not self.credentials_ok(
            fields.get("client_id"), fields.get("client_secret")
        ):
            return JSONResponse(
                {"error": "invalid_client", "error_description": "Client authentication failed."},
                401,
            )
        return JSONResponse(
            {
                "access_token": self.issue_token(),
                "token_type": "Bearer",
                "issued_at": int(time.time() * 1000),
                "expires_in": int(self.token_lifetime),
                "status": "approved",
                "scope": self.scopes,
                "issuer": "api.usps.com",
                "client_id": self.client_id,
                "application_name": "parcelstream",
                "api_products": "[Public Access]",
                "public_key": "",
            }
        )

    def _unauthorized(self) -> Response:
        return JSONResponse(self.error_body(401), 401, {"WWW-Authenticate": 'Bearer realm="usps"'})

    async def _track(self, request: Request) -> Response:
        self.stats.track_requests += 1
        self.stats.track_times.append(time.monotonic())
        number = request.path_params["number"]
        self.stats.tracked.append(number)
        if not self.bearer_ok(request) or "tracking" not in self.scopes.split():
            return self._unauthorized()
        if (fault := await self.faulted("track")) is not None:
            return fault
        released = self.released(number)
        if not released:
            return JSONResponse(
                self.error_body(404, "404", f"Tracking number {number} not found."), 404
            )
        return JSONResponse(details(self.journeys[number], released))

    async def _track_batch(self, request: Request) -> Response:
        self.stats.track_requests += 1
        self.stats.track_times.append(time.monotonic())
        if not self.bearer_ok(request):
            return self._unauthorized()
        if (fault := await self.faulted("track")) is not None:
            return fault
        try:
            items = json.loads(await request.body())
            numbers = [item["trackingNumber"] for item in items]
        except (ValueError, KeyError, TypeError):
            return JSONResponse(self.error_body(400), 400)
        if not 1 <= len(numbers) <= 35:
            return JSONResponse(
                self.error_body(400, "400", "Between 1 and 35 tracking numbers."), 400
            )
        self.stats.tracked.extend(numbers)
        answers: list[dict[str, Any]] = []
        missing = 0
        for number in numbers:
            released = self.released(number)
            if released:
                answers.append(details(self.journeys[number], released))
            else:
                missing += 1
                answers.append({"trackingNumber": number, **self.error_body(404)})
        return JSONResponse(answers, 207 if missing else 200)

    async def _subscribe(self, request: Request) -> Response:
        if not self.bearer_ok(request):
            return self._unauthorized()
        body = await request.json()
        self.stats.subscribe_requests.append({"at": time.monotonic(), "body": body})
        return JSONResponse({"subscriptionId": str(uuid.uuid4()), **body}, 201)

    def pushes_for(self, journey: Journey, released: list[Event], new: list[Event]) -> list[Push]:
        pushes = []
        for event in new:
            payload = json.dumps(details(journey, [event], full=False), separators=(",", ":"))
            timestamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            envelope = {
                "subscriptionId": str(uuid.uuid5(uuid.NAMESPACE_URL, journey.tracking_number)),
                "timestamp": timestamp,
                "payload": payload,
            }
            pushes.append(Push(json.dumps(envelope).encode(), {"Content-Type": "application/json"}))
        return pushes

    async def authenticate_push(self, client: httpx2.AsyncClient, push: Push) -> dict[str, str]:
        envelope = json.loads(push.body)
        return {
            self.hmac_header: sign(
                self.push.secret or "", envelope["timestamp"], envelope["payload"]
            )
        }
