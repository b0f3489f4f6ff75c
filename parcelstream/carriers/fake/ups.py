"""A fake UPS, written from SPEC §2: OAuth token (HTTP Basic, string-valued fields), Track API
details (transId and transactionSrc required; not found as 404 or a 200 with TW0001), Track
Alert v2 package subscriptions (at most 100, 14 days), and Track Alert pushes: one event per
POST, after fetching a token from the receiver's own token URL."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC
from typing import Any

import httpx2
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from parcelstream.carriers.fake.base import FakeCarrier, Push, basic_credentials, form_of
from parcelstream.carriers.fake.journeys import Event, Journey

# Our scan code -> (activity type, 2-char code, 3-digit status code, description), SPEC §2.5.
CODES: dict[str, tuple[str, str, str, str]] = {
    "LABEL_CREATED": (
        "M",
        "MP",
        "003",
        "Shipper created a label, UPS has not received the package yet.",
    ),
    "PICKED_UP": ("I", "PU", "038", "Picked up"),
    "ARRIVED_AT_FACILITY": ("I", "AR", "005", "Arrived at Facility"),
    "DEPARTED_FACILITY": ("I", "DP", "005", "Departed from Facility"),
    "PROCESSED_AT_FACILITY": ("I", "LC", "005", "Processing at UPS Facility"),
    "IN_TRANSIT": ("I", "HU", "005", "On the Way"),
    "OUT_FOR_DELIVERY": ("I", "OT", "021", "Out For Delivery Today"),
    "DELIVERED": ("D", "FS", "011", "Delivered"),
    "DELIVERY_ATTEMPTED": (
        "X",
        "48",
        "022",
        "Receiver not available - second attempt next business day",
    ),
}
EXCEPTIONS: dict[str | None, tuple[str, str, str, str]] = {
    "WEATHER_DELAY": ("X", "WD", "051", "Severe weather conditions have delayed delivery."),
    "DAMAGED": ("X", "DM", "059", "Damage reported"),
    "ADDRESS_ISSUE": ("X", "AD", "050", "The address information is incomplete or incorrect."),
    "CUSTOMS_HOLD": ("X", "CH", "123", "Held in customs"),
    "RETURNED_TO_SENDER": ("X", "RS", "033", "Returning to sender"),
    None: ("X", "XX", "013", "Exception"),
}
_NUMBER = re.compile(r"^1Z[0-9A-Z]{16}$|^1R[0-9A-Z]{14}$|^1R[0-9A-Z]{26}$")


def code_of(event: Event) -> tuple[str, str, str, str]:
    if event.status_code == "EXCEPTION":
        return EXCEPTIONS.get(event.exception_code, EXCEPTIONS[None])
    return CODES[event.status_code]


def _local(event: Event) -> tuple[str, str, str, str, str]:
    """(local date, local time, GMT date, GMT time, offset '-05:00')."""
    gmt = event.at.astimezone(UTC)
    offset = event.at.strftime("%z")
    return (
        event.at.strftime("%Y%m%d"),
        event.at.strftime("%H%M%S"),
        gmt.strftime("%Y%m%d"),
        # UPS's own example writes GMT times without the leading zero (SPEC §2.3).
        str(int(gmt.strftime("%H%M%S"))),
        f"{offset[:3]}:{offset[3:]}",
    )


def activity(event: Event) -> dict[str, Any]:
    kind, code, status_code, description = code_of(event)
    date, clock, gmt_date, gmt_time, offset = _local(event)
    address = {"country": event.country or "US", "countryCode": event.country or "US"}
    if event.city:
        address |= {"city": event.city.upper(), "stateProvince": event.region or ""}
    if event.postal_code:
        address["postalCode"] = event.postal_code
    return {
        "date": date,
        "time": clock,
        "gmtDate": gmt_date,
        "gmtTime": gmt_time,
        "gmtOffset": offset,
        "location": {"address": address},
        "status": {
            "type": kind,
            "code": code,
            "statusCode": status_code,
            "description": description,
            "simplifiedTextDescription": description,
        },
    }


def track_response(journey: Journey, released: list[Event]) -> dict[str, Any]:
    activities = [activity(e) for e in reversed(released)]
    package: dict[str, Any] = {
        "trackingNumber": journey.tracking_number,
        "packageCount": 1,
        "currentStatus": activities[0]["status"],
        "activity": activities,
    }
    last = released[-1]
    if last.status_code == "DELIVERED":
        package["deliveryDate"] = [{"type": "DEL", "date": last.at.strftime("%Y%m%d")}]
        package["deliveryTime"] = {"type": "DEL", "endTime": last.at.strftime("%H%M%S")}
        package["deliveryInformation"] = {
            "location": "Front Door",
            "receivedBy": last.signed_by or "",
        }
    return {
        "trackResponse": {
            "shipment": [{"inquiryNumber": journey.tracking_number, "package": [package]}]
        }
    }


def alert(journey: Journey, event: Event) -> dict[str, Any]:
    """A Track Alert event (SPEC §2.7): postal code blank until delivery, offset as -05.00."""
    kind, code, status_code, description = code_of(event)
    date, clock, gmt_date, _, offset = _local(event)
    delivered = event.status_code == "DELIVERED"
    return {
        "trackingNumber": journey.tracking_number,
        "localActivityDate": date,
        "localActivityTime": clock,
        "activityLocation": {
            "city": (event.city or "").upper(),
            "stateProvince": event.region or "",
            "postalCode": (event.postal_code or "") if delivered else "",
            "country": event.country or "US",
        },
        "activityStatus": {
            "type": kind,
            "code": code,
            "description": description,
            "descriptionCode": status_code,
        },
        "scheduledDeliveryDate": "",
        "actualDeliveryDate": date if delivered else "",
        "actualDeliveryTime": clock if delivered else "",
        "gmtActivityDate": gmt_date,
        "gmtActivityTime": event.at.astimezone(UTC).strftime("%H%M%S"),
        "gmtOffset": offset.replace(":", "."),
        "deliveryStartTime": "",
        "deliveryEndTime": "",
        "deliveryTimeDescription": "",
        "deliveryPhoto": "",
        "receivedBy": (event.signed_by or "") if delivered else "",
    }


class FakeUps(FakeCarrier):
    carrier = "ups"
    token_path = "/security/v1/oauth/token"
    token_lifetime = 14399.0

    def error_body(self, status: int, code: str | None = None, message: str | None = None) -> Any:
        defaults = {
            400: ("TV1002", "Invalid inquiry number"),
            401: ("250002", "Invalid Authentication Information."),
            404: ("TW0001", "Tracking Information Not Found"),
            429: ("10429", "Quota Limit Exceeded"),
        }
        default = defaults.get(status, ("10004", "The service is temporarily unavailable"))
        return {
            "response": {"errors": [{"code": code or default[0], "message": message or default[1]}]}
        }

    def routes(self) -> list[Route]:
        return [
            Route(self.token_path, self._token, methods=["POST"]),
            Route("/api/track/v1/details/{number}", self._track, methods=["GET"]),
            Route(
                "/api/track/{version}/subscription/{kind}/package",
                self._subscribe,
                methods=["POST"],
            ),
        ]

    async def _token(self, request: Request) -> Response:
        self.stats.token_requests += 1
        if (fault := await self.faulted("token")) is not None:
            return fault
        form = await form_of(request)
        client_id, client_secret = basic_credentials(request)
        if form.get("grant_type") != "client_credentials" or not self.credentials_ok(
            client_id, client_secret
        ):
            return JSONResponse(
                self.error_body(401, "250003", "Invalid Access License number"), 401
            )
        token = self.issue_token()
        now_ms = str(int(time.time() * 1000))
        return JSONResponse(
            {
                "token_type": "Bearer",
                "issued_at": now_ms,
                "client_id": self.client_id,
                "access_token": token,
                "scope": "",
                "expires_in": str(int(self.token_lifetime)),
                "refresh_count": "0",
                "status": "approved",
            }
        )

    def _headers_missing(self, request: Request) -> Response | None:
        if not request.headers.get("transid") or not request.headers.get("transactionsrc"):
            return JSONResponse(
                self.error_body(400, "VSS002", "transId or transactionSrc missing"), 400
            )
        if not self.bearer_ok(request):
            return JSONResponse(self.error_body(401, "UJ0001", "Invalid or missing token"), 401)
        return None

    async def _track(self, request: Request) -> Response:
        self.stats.track_requests += 1
        self.stats.track_times.append(time.monotonic())
        number = request.path_params["number"]
        self.stats.tracked.append(number)
        if (refused := self._headers_missing(request)) is not None:
            return refused
        if (fault := await self.faulted("track")) is not None:
            return fault
        if not 7 <= len(number) <= 34:
            return JSONResponse(self.error_body(400), 400)
        released = self.released(number)
        if not released:
            if self.not_found_as_warning:
                warning = {"code": "TW0001", "message": "Tracking Information Not Found"}
                return JSONResponse(
                    {
                        "trackResponse": {
                            "shipment": [{"inquiryNumber": number, "warnings": [warning]}]
                        }
                    }
                )
            return JSONResponse(self.error_body(404), 404)
        return JSONResponse(track_response(self.journeys[number], released))

    async def _subscribe(self, request: Request) -> Response:
        if (refused := self._headers_missing(request)) is not None:
            return refused
        if (fault := await self.faulted("subscribe")) is not None:
            return fault
        body = await request.json()
        numbers = body.get("trackingNumberList") or []
        self.stats.subscribe_requests.append({"at": time.monotonic(), "numbers": numbers})
        if not numbers:
            return JSONResponse(
                {"invalidTrackingNumbers": [], **self.error_body(400, "VSS110", "Empty request")},
                400,
            )
        if len(numbers) > 100:
            return JSONResponse(
                {"invalidTrackingNumbers": [], **self.error_body(400, "VSS220", "More than 100")},
                400,
            )
        valid = [n for n in numbers if isinstance(n, str) and _NUMBER.match(n)]
        invalid = [n for n in numbers if n not in valid]
        if not valid:
            return JSONResponse(
                {
                    "invalidTrackingNumbers": invalid,
                    **self.error_body(400, "VSS200", "No valid numbers"),
                },
                400,
            )
        until = time.monotonic() + self.subscription_seconds
        for n in valid:
            self.subscriptions[n] = until
        return JSONResponse({"validTrackingNumbers": valid, "invalidTrackingNumbers": invalid})

    def pushes_for(self, journey: Journey, released: list[Event], new: list[Event]) -> list[Push]:
        return [
            Push(
                json.dumps(alert(journey, e)).encode(),
                {"Content-Type": "application/json", "User-Agent": "UPSPubSubTrackingService"},
            )
            for e in new
        ]

    async def authenticate_push(self, client: httpx2.AsyncClient, push: Push) -> dict[str, str]:
        token = await self.our_token(client)
        return {"Authorization": f"Bearer {token}", "x-api-key": self.push.client_id or ""}
