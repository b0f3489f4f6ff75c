"""A package's journey as the fake carriers replay it: our wire scans (RFC 3339 times with the
local offset), read from a simulator scenario file or made up here, label to delivery."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from parcelstream.domain.numbers import detect


@dataclass(frozen=True, slots=True)
class Place:
    city: str
    region: str
    postal_code: str
    country: str
    zone: str

    def as_wire(self) -> dict[str, str]:
        return {
            "city": self.city,
            "region": self.region,
            "postal_code": self.postal_code,
            "country": self.country,
        }


@dataclass(frozen=True, slots=True)
class Event:
    """One scan of the journey, as our wire format has it."""

    at: datetime
    """Aware, in the local offset of where it happened."""
    status_code: str
    facility_id: str
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None
    exception_code: str | None = None
    signed_by: str | None = None


@dataclass
class Journey:
    tracking_number: str
    carrier: str
    events: list[Event] = field(default_factory=list)
    origin: Place | None = None
    destination: Place | None = None

    def released(self, now: datetime) -> list[Event]:
        """The events that have happened by `now`, oldest first."""
        return [e for e in self.events if e.at <= now]


def event_from_wire(scan: dict[str, Any]) -> Event:
    location = scan.get("location") or {}
    return Event(
        at=datetime.fromisoformat(scan["timestamp"]),
        status_code=scan["status_code"],
        facility_id=scan.get("facility_id") or "UNKNOWN",
        city=location.get("city"),
        region=location.get("region"),
        postal_code=location.get("postal_code"),
        country=location.get("country"),
        exception_code=scan.get("exception_code"),
    )


def read_scenario(path: Path, carrier: str) -> list[Journey]:
    """The journeys of `carrier`'s packages in a simulator scenario file (JSON Lines: a
    `scenario` header, then `package` and `scan` lines)."""
    journeys: dict[str, Journey] = {}
    with path.open() as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not JSON: {exc}") from None
            kind, body = record.get("kind"), record.get("body") or {}
            tn = body.get("tracking_number")
            if kind not in ("package", "scan") or not tn:
                continue
            if kind == "package":
                owner = body.get("carrier") or detect(tn).carrier
                if owner == carrier:
                    journey = journeys.setdefault(tn, Journey(tn, carrier))
                    journey.origin = _place(body.get("origin"))
                    journey.destination = _place(body.get("destination"))
            elif tn in journeys or detect(tn).carrier == carrier:
                journeys.setdefault(tn, Journey(tn, carrier)).events.append(event_from_wire(body))
    for journey in journeys.values():
        journey.events.sort(key=lambda e: e.at)
    return list(journeys.values())


def _place(address: dict[str, Any] | None) -> Place | None:
    if not address or not address.get("city"):
        return None
    return Place(
        address["city"],
        address.get("region") or "",
        address.get("postal_code") or "",
        address.get("country") or "US",
        "",
    )


_PLACES = [
    Place("Atlanta", "GA", "30336", "US", "America/New_York"),
    Place("Philadelphia", "PA", "19104", "US", "America/New_York"),
    Place("Columbus", "OH", "43217", "US", "America/New_York"),
    Place("Louisville", "KY", "40209", "US", "America/New_York"),
    Place("Memphis", "TN", "38118", "US", "America/Chicago"),
    Place("Chicago", "IL", "60666", "US", "America/Chicago"),
    Place("Dallas", "TX", "75261", "US", "America/Chicago"),
    Place("Omaha", "NE", "68102", "US", "America/Chicago"),
    Place("Denver", "CO", "80216", "US", "America/Denver"),
    Place("Salt Lake City", "UT", "84104", "US", "America/Denver"),
    Place("Phoenix", "AZ", "85043", "US", "America/Phoenix"),
    Place("Portland", "OR", "97218", "US", "America/Los_Angeles"),
    Place("Ontario", "CA", "91761", "US", "America/Los_Angeles"),
]
_SIGNERS = ["KOWALSKI", "R PATEL", "M.RIOS", "J NGUYEN", "A OKAFOR"]


def generate_journey(tracking_number: str, carrier: str, start: datetime) -> Journey:
    """A plausible journey from a label at `start` to a signed delivery about two days later:
    label, pickup, origin hub in and out, a second hub, destination hub, out for delivery,
    delivered. Places and their zones (offsets on every time) follow from the number."""
    rng = random.Random(tracking_number)
    origin, hub, destination = rng.sample(_PLACES, 3)
    steps: list[tuple[Place, str, float]] = [
        (origin, "LABEL_CREATED", 0.0),
        (origin, "PICKED_UP", rng.uniform(2, 6)),
        (origin, "ARRIVED_AT_FACILITY", rng.uniform(1, 2)),
        (origin, "DEPARTED_FACILITY", rng.uniform(2, 5)),
        (hub, "ARRIVED_AT_FACILITY", rng.uniform(5, 12)),
        (hub, "DEPARTED_FACILITY", rng.uniform(2, 6)),
        (destination, "ARRIVED_AT_FACILITY", rng.uniform(5, 12)),
        (destination, "OUT_FOR_DELIVERY", rng.uniform(3, 8)),
        (destination, "DELIVERED", rng.uniform(2, 6)),
    ]
    events: list[Event] = []
    moment = start
    for place, code, hours in steps:
        moment = moment + timedelta(hours=hours, minutes=rng.randint(0, 59))
        # Whole minutes: carriers report scan times to the minute.
        local = moment.astimezone(ZoneInfo(place.zone)).replace(second=0, microsecond=0)
        delivered = code == "DELIVERED"
        events.append(
            Event(
                at=local,
                status_code=code,
                facility_id=f"{place.city[:3].upper()}-{'HUB' if code != 'DELIVERED' else 'DLV'}",
                city=place.city,
                region=place.region,
                postal_code=place.postal_code,
                country=place.country,
                signed_by=rng.choice(_SIGNERS) if delivered else None,
            )
        )
    return Journey(tracking_number, carrier, events, origin, destination)
