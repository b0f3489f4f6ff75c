"""The fake carriers' app: their own routes, the admin routes tests and demos drive, and the
push loop beside them.

Admin routes (under `/_fake`, no auth): `POST journeys` (`{"tracking_number", "generate": true}`
or `{"tracking_number", "scans": [wire scans]}`), `POST clock` (`{"advance": seconds}` or
`{"to": RFC 3339}`), `POST faults` (`{"route": "track"|"token"|"subscribe"|"push", "status",
"count", "retry_after", "delay", "malformed", "duplicate", "reorder"}`), `GET stats`,
`GET missed` and `POST missed/replay` (FedEx's missed-events queue), `POST tokens/revoke`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from parcelstream.carriers.fake.base import FakeCarrier, Fault
from parcelstream.carriers.fake.journeys import Event, Journey, event_from_wire, generate_journey


def build_app(fake: FakeCarrier) -> Starlette:
    """The fake's own routes, the admin routes, and the push loop running beside them."""
    admin = _Admin(fake)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(fake.push_loop(stop))
        try:
            yield
        finally:
            stop.set()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    routes = [
        Route("/_fake/journeys", admin.journeys, methods=["POST"]),
        Route("/_fake/clock", admin.clock, methods=["POST", "GET"]),
        Route("/_fake/faults", admin.faults, methods=["POST", "DELETE"]),
        Route("/_fake/stats", admin.stats, methods=["GET"]),
        Route("/_fake/missed", admin.missed, methods=["GET"]),
        Route("/_fake/missed/replay", admin.replay, methods=["POST"]),
        Route("/_fake/tokens/revoke", admin.revoke, methods=["POST"]),
    ]
    return Starlette(routes=fake.routes() + routes, lifespan=lifespan)


class _Admin:
    def __init__(self, fake: FakeCarrier) -> None:
        self._fake = fake

    async def journeys(self, request: Request) -> Response:
        body = await request.json()
        tn = body["tracking_number"]
        if body.get("scans"):
            journey = Journey(
                tn,
                self._fake.carrier,
                sorted(map(event_from_wire, body["scans"]), key=lambda e: e.at),
            )
        else:
            start = (
                datetime.fromisoformat(body["start"])
                if body.get("start")
                else self._fake.clock.now()
            )
            journey = generate_journey(tn, self._fake.carrier, start)
        self._fake.add_journey(journey)
        return JSONResponse(
            {"tracking_number": tn, "events": [_event_json(e) for e in journey.events]}
        )

    async def clock(self, request: Request) -> Response:
        if request.method == "POST":
            body = await request.json()
            if "to" in body:
                self._fake.clock.move_to(datetime.fromisoformat(body["to"]))
            else:
                self._fake.clock.advance(float(body.get("advance", 0)))
        return JSONResponse({"now": self._fake.clock.now().isoformat()})

    async def faults(self, request: Request) -> Response:
        if request.method == "DELETE":
            self._fake.clear_faults()
            return JSONResponse({"cleared": True})
        body = await request.json()
        route = body.get("route", "track")
        if route == "push":
            self._fake.push.duplicate = bool(body.get("duplicate", self._fake.push.duplicate))
            self._fake.push.reorder = bool(body.get("reorder", self._fake.push.reorder))
            return JSONResponse(
                {
                    "push": {
                        "duplicate": self._fake.push.duplicate,
                        "reorder": self._fake.push.reorder,
                    }
                }
            )
        fault = Fault(
            status=body.get("status"),
            delay=float(body.get("delay", 0)),
            retry_after=str(body["retry_after"]) if body.get("retry_after") is not None else None,
            malformed=bool(body.get("malformed")),
        )
        count = body.get("count", 1)
        self._fake.add_fault(route, fault, None if count in (None, "always") else int(count))
        return JSONResponse({"route": route, "count": count})

    async def stats(self, request: Request) -> Response:
        now = time.monotonic()
        return JSONResponse(
            {
                "now": self._fake.clock.now().isoformat(),
                "token_requests": self._fake.stats.token_requests,
                "tokens_refused": self._fake.stats.tokens_refused,
                "track_requests": self._fake.stats.track_requests,
                "clients": len(self._fake.stats.track_tokens),
                "tracked": self._fake.stats.tracked[-1000:],
                "faults_served": self._fake.stats.faults_served,
                "pushes": self._fake.stats.pushes,
                "push_failures": self._fake.stats.push_failures,
                "missed": len(self._fake.missed),
                "subscribe_requests": self._fake.stats.subscribe_requests[-1000:],
                "subscriptions": {
                    tn: round(until - now, 3) for tn, until in self._fake.subscriptions.items()
                },
                "lapsed": self._fake.lapsed,
            }
        )

    async def revoke(self, request: Request) -> Response:
        revoked = self._fake.revoke_tokens()
        return JSONResponse({"revoked": revoked})

    async def missed(self, request: Request) -> Response:
        return JSONResponse([json.loads(p.body) for p in self._fake.missed])

    async def replay(self, request: Request) -> Response:
        return JSONResponse({"delivered": await self._fake.replay_missed()})


def _event_json(event: Event) -> dict[str, Any]:
    return {
        "timestamp": event.at.isoformat(),
        "status_code": event.status_code,
        "facility_id": event.facility_id,
        "location": {
            "city": event.city,
            "region": event.region,
            "postal_code": event.postal_code,
            "country": event.country,
        },
        **({"exception_code": event.exception_code} if event.exception_code else {}),
    }
