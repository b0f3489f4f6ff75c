"""A fake FedEx, written from SPEC §3: OAuth token (form body, `expires_in` a number), Track by
tracking number (at most 30, per-number errors inside a 200), and Advanced Integrated Visibility
pushes: the full history every time anything changes, signed `fdx-signature` = base64
HMAC-SHA256(security token, raw body), retried 3 times then kept as missed events."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import httpx2
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from parcelstream.carriers.fake.base import FakeCarrier, Push, form_of
from parcelstream.carriers.fake.journeys import Event, Journey

# Our scan code -> (eventType, description, derivedStatusCode, derivedStatus), SPEC §3.5.
CODES: dict[str, tuple[str, str, str, str]] = {
    "LABEL_CREATED": ("OC", "Shipment information sent to FedEx", "IN", "Label created"),
    "PICKED_UP": ("PU", "Picked up", "PU", "Picked up"),
    "ARRIVED_AT_FACILITY": ("AR", "Arrived at FedEx location", "IT", "In transit"),
    "DEPARTED_FACILITY": ("DP", "Departed FedEx location", "IT", "In transit"),
    "PROCESSED_AT_FACILITY": ("SF", "At FedEx sort facility", "IT", "In transit"),
    "IN_TRANSIT": ("IT", "In transit", "IT", "In transit"),
    "OUT_FOR_DELIVERY": ("OD", "On FedEx vehicle for delivery", "IT", "In transit"),
    "DELIVERED": ("DL", "Delivered", "DL", "Delivered"),
    "DELIVERY_ATTEMPTED": ("DE", "Delivery exception", "DE", "Delivery exception"),
}
EXCEPTIONS: dict[str | None, tuple[str, str, str, str]] = {
    "WEATHER_DELAY": ("DY", "Delay", "DY", "Delay"),
    "DAMAGED": ("SE", "Shipment exception", "SE", "Shipment exception"),
    "ADDRESS_ISSUE": ("SE", "Shipment exception", "SE", "Shipment exception"),
    "CUSTOMS_HOLD": ("CD", "Clearance delay", "DY", "Delay"),
    "RETURNED_TO_SENDER": ("RS", "Return to shipper", "RS", "Return to shipper"),
    None: ("SE", "Shipment exception", "SE", "Shipment exception"),
}
_EXCEPTION_TEXT = {
    "DELIVERY_ATTEMPTED": ("08", "Customer not available or business closed"),
    "WEATHER_DELAY": ("X19", "Weather delay in the region"),
    "DAMAGED": ("A13", "Package damaged"),
    "ADDRESS_ISSUE": ("03", "Incorrect address"),
    "CUSTOMS_HOLD": ("C1", "Clearance delay"),
    "RETURNED_TO_SENDER": ("RS", "Returned to shipper"),
}
_LOCATION_TYPES = {
    "LABEL_CREATED": "CUSTOMER",
    "PICKED_UP": "PICKUP_LOCATION",
    "OUT_FOR_DELIVERY": "VEHICLE",
    "DELIVERED": "DELIVERY_LOCATION",
}


def scan_event(event: Event) -> dict[str, Any]:
    key = event.exception_code if event.status_code == "EXCEPTION" else None
    kind, description, derived, derived_text = (
        EXCEPTIONS.get(key, EXCEPTIONS[None])
        if event.status_code == "EXCEPTION"
        else CODES[event.status_code]
    )
    exception_code, exception_text = _EXCEPTION_TEXT.get(
        event.exception_code or event.status_code, ("", "")
    )
    location: dict[str, Any] = {
        "streetLines": [""],
        "residential": event.status_code == "DELIVERED",
    }
    if event.city:
        location |= {
            "city": event.city.upper(),
            "stateOrProvinceCode": event.region or "",
            "postalCode": event.postal_code or "",
            "countryCode": event.country or "US",
            "countryName": "United States" if (event.country or "US") == "US" else "",
        }
    scan: dict[str, Any] = {
        "date": event.at.isoformat(),
        "eventType": kind,
        "eventDescription": description,
        "exceptionCode": exception_code,
        "exceptionDescription": exception_text,
        "scanLocation": location,
        "locationType": _LOCATION_TYPES.get(event.status_code, "FEDEX_FACILITY"),
        "derivedStatusCode": derived,
        "derivedStatus": derived_text,
    }
    if event.exception_code == "WEATHER_DELAY":
        scan["delayDetail"] = {"type": "WEATHER"}
    return scan


def track_result(journey: Journey, released: list[Event]) -> dict[str, Any]:
    last = released[-1]
    events = [scan_event(e) for e in reversed(released)]
    attempts = sum(1 for e in released if e.status_code == "DELIVERY_ATTEMPTED")
    result: dict[str, Any] = {
        "trackingNumberInfo": {
            "trackingNumber": journey.tracking_number,
            "trackingNumberUniqueId": f"2461117000~{journey.tracking_number}~FDEG",
            "carrierCode": "FDXG",
        },
        "latestStatusDetail": {
            "code": events[0]["eventType"],
            "derivedCode": events[0]["eventType"],
            "statusByLocale": events[0]["eventDescription"],
            "description": events[0]["eventDescription"],
            "scanLocation": events[0]["scanLocation"],
        },
        "scanEvents": events,
        "deliveryDetails": {"deliveryAttempts": str(attempts), "deliveryToday": False},
        "dateAndTimes": [],
        "availableImages": [],
        "estimatedDeliveryTimeWindow": {"window": {}},
        "serviceDetail": {
            "type": "FEDEX_GROUND",
            "description": "FedEx Ground",
            "shortDescription": "FG",
        },
    }
    if last.status_code == "DELIVERED":
        result["dateAndTimes"] = [{"type": "ACTUAL_DELIVERY", "dateTime": last.at.isoformat()}]
        result["deliveryDetails"] |= {
            "receivedByName": last.signed_by or "",
            "signedByName": last.signed_by or "",
        }
        result["availableImages"] = [{"type": "SIGNATURE_PROOF_OF_DELIVERY"}]
    return result


def not_found(number: str) -> dict[str, Any]:
    return {
        "trackingNumber": number,
        "trackResults": [
            {
                "trackingNumberInfo": {
                    "trackingNumber": number,
                    "carrierCode": "",
                    "trackingNumberUniqueId": "",
                },
                "error": {
                    "code": "TRACKING.TRACKINGNUMBER.NOTFOUND",
                    "message": "Tracking number cannot be found. Please correct the tracking"
                    " number and try again.",
                },
            }
        ],
    }


def sign(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


class FakeFedex(FakeCarrier):
    carrier = "fedex"
    token_path = "/oauth/token"
    token_lifetime = 3599.0
    default_retries = 3

    def error_body(self, status: int, code: str | None = None, message: str | None = None) -> Any:
        defaults = {
            400: "TRACKING.TRACKINGNUMBER.EMPTY",
            401: "NOT.AUTHORIZED.ERROR",
            403: "FORBIDDEN.ERROR",
            404: "NOT.FOUND.ERROR",
            429: "TOO.MANY.REQUESTS",
            503: "SERVICE.UNAVAILABLE.ERROR",
        }
        return {
            "transactionId": str(uuid.uuid4()),
            "errors": [
                {
                    "code": code or defaults.get(status, "INTERNAL.SERVER.ERROR"),
                    "message": message
                    or (
                        "Too many requests - We have received too many requests in a short"
                        " duration."
                        if status == 429
                        else "We are unable to process this request. Please try again later."
                    ),
                }
            ],
        }

    def routes(self) -> list[Route]:
        return [
            Route(self.token_path, self._token, methods=["POST"]),
            Route("/track/v1/trackingnumbers", self._track, methods=["POST"]),
        ]

    async def _token(self, request: Request) -> Response:
        self.stats.token_requests += 1
        if (fault := await self.faulted("token")) is not None:
            return fault
        form = await form_of(request)
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if (
            form.get("grant_type") != "client_credentials"
            or not isinstance(client_id, str)
            or not isinstance(client_secret, str)
            or not self.credentials_ok(client_id, client_secret)
        ):
            return JSONResponse(
                {
                    "transactionId": str(uuid.uuid4()),
                    "errors": [
                        {
                            "code": "NOT.AUTHORIZED.ERROR",
                            "message": "The given client credentials were not valid.",
                        }
                    ],
                },
                401,
            )
        return JSONResponse(
            {
                "access_token": self.issue_token(),
                "token_type": "bearer",
                "expires_in": int(self.token_lifetime),
                "scope": "CXS",
            }
        )

    async def _track(self, request: Request) -> Response:
        self.stats.track_requests += 1
        self.stats.track_times.append(time.monotonic())
        if not self.bearer_ok(request):
            return JSONResponse(self.error_body(401), 401)
        if (fault := await self.faulted("track")) is not None:
            return fault
        try:
            body = json.loads(await request.body())
            infos = body["trackingInfo"]
            numbers = [i["trackingNumberInfo"]["trackingNumber"] for i in infos]
            body["includeDetailedScans"]
        except (ValueError, KeyError, TypeError):
            return JSONResponse(
                self.error_body(
                    400, "TRACKING.TRACKINGNUMBER.EMPTY", "Please provide tracking number."
                ),
                400,
            )
        if not 1 <= len(numbers) <= 30:
            return JSONResponse(
                self.error_body(
                    400, "TRACKING.TRACKINGNUMBER.EMPTY", "Between 1 and 30 tracking numbers."
                ),
                400,
            )
        self.stats.tracked.extend(numbers)
        results = []
        for number in numbers:
            released = self.released(number)
            if not released:
                results.append(not_found(number))
            else:
                results.append(
                    {
                        "trackingNumber": number,
                        "trackResults": [track_result(self.journeys[number], released)],
                    }
                )
        return JSONResponse(
            {
                "transactionId": str(uuid.uuid4()),
                "customerTransactionId": request.headers.get("x-customer-transaction-id", ""),
                "output": {"completeTrackResults": results},
            }
        )

    def pushes_for(self, journey: Journey, released: list[Event], new: list[Event]) -> list[Push]:
        pushes = []
        for event in new:
            upto = released[: released.index(event) + 1]
            body = {
                "transactionId": str(uuid.uuid4()),
                "output": {
                    "completeTrackResults": [
                        {
                            "trackingNumber": journey.tracking_number,
                            "trackResults": [track_result(journey, upto)],
                        }
                    ]
                },
            }
            pushes.append(Push(json.dumps(body).encode(), {"Content-Type": "application/json"}))
        return pushes

    async def authenticate_push(self, client: httpx2.AsyncClient, push: Push) -> dict[str, str]:
        return {"fdx-signature": sign(self.push.secret or "", push.body)}
