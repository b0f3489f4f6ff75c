"""Test data for the end-to-end tests: valid tracking numbers, scans, and what they should yield.

The expected status is worked out here from the documented rules, independently of the server's
own code: order by event time, DELIVERED is terminal (later scans are kept but flagged
after_delivery), a label scan never moves a package back.
"""

from __future__ import annotations

import asyncio
import random
import string
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx2

from parcelstream.domain.numbers import is_valid

Scan = dict[str, Any]

STATUS_OF_CODE = {
    "LABEL_CREATED": "LABEL_CREATED",
    "PICKED_UP": "PICKED_UP",
    "ARRIVED_AT_FACILITY": "IN_TRANSIT",
    "DEPARTED_FACILITY": "IN_TRANSIT",
    "PROCESSED_AT_FACILITY": "IN_TRANSIT",
    "IN_TRANSIT": "IN_TRANSIT",
    "OUT_FOR_DELIVERY": "OUT_FOR_DELIVERY",
    "DELIVERED": "DELIVERED",
    "DELIVERY_ATTEMPTED": "ATTEMPTED_DELIVERY",
    "EXCEPTION": "EXCEPTION",
}


def ups_number(rng: random.Random) -> str:
    """A valid UPS 1Z number: 6 shipper characters, service 03, 7 digits and the mod-10 check."""
    alnum = string.ascii_uppercase + string.digits
    body = (
        "".join(rng.choice(alnum) for _ in range(6))
        + "03"
        + "".join(rng.choice(string.digits) for _ in range(7))
    )
    total = 0
    for position, char in enumerate(body, start=1):
        value = (ord(char) - 3) % 10 if char.isalpha() else int(char)
        total += value * (2 if position % 2 == 0 else 1)
    number = f"1Z{body}{(10 - total % 10) % 10}"
    assert is_valid(number, "ups"), number
    return number


def ups_numbers(rng: random.Random, count: int, exclude: Iterable[str] = ()) -> list[str]:
    seen = set(exclude)
    numbers: list[str] = []
    while len(numbers) < count:
        number = ups_number(rng)
        if number not in seen:
            seen.add(number)
            numbers.append(number)
    return numbers


def rfc3339(moment: datetime, offset_minutes: int = 0) -> str:
    """Whole seconds, the offset as sent, Z for UTC: the form the server echoes back."""
    zone = UTC if offset_minutes == 0 else timezone(timedelta(minutes=offset_minutes))
    text = moment.astimezone(zone).isoformat(timespec="seconds")
    return text[:-6] + "Z" if offset_minutes == 0 else text


def recent_start(days_ago: float) -> datetime:
    """A whole-second instant `days_ago` before now (scans must be within two years and not
    more than a day ahead of the server's clock)."""
    now = datetime.now(UTC).replace(microsecond=0)
    return now - timedelta(days=days_ago)


@dataclass(frozen=True)
class ExpectedDocument:
    status: str
    events: list[tuple[str, str, str, bool]]
    """(timestamp, status_code, facility_id, after_delivery), newest first."""


def expected_document(scans: Iterable[Scan]) -> ExpectedDocument:
    """What GET /v1/track must show for this set of scans (sent in any order, any number of times).

    Only for scans at distinct instants: ties are ordered by the server's progress rank, which the
    callers that need it spell out themselves.
    """
    distinct: dict[tuple[str, str, str, str], Scan] = {}
    for scan in scans:
        key = (scan["tracking_number"], scan["facility_id"], scan["timestamp"], scan["status_code"])
        distinct.setdefault(key, scan)
    ordered = sorted(distinct.values(), key=lambda s: datetime.fromisoformat(s["timestamp"]))
    instants = [datetime.fromisoformat(s["timestamp"]) for s in ordered]
    assert len(set(instants)) == len(instants), "expected_document needs distinct instants"
    status: str | None = None
    rows: list[tuple[str, str, str, bool]] = []
    for scan in ordered:
        after = status == "DELIVERED"
        if not after and not (scan["status_code"] == "LABEL_CREATED" and status is not None):
            status = STATUS_OF_CODE[scan["status_code"]]
        rows.append((scan["timestamp"], scan["status_code"], scan["facility_id"], after))
    rows.reverse()
    return ExpectedDocument(status or "LABEL_CREATED", rows)


def observed_events(document: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    return [
        (e["timestamp"], e["status_code"], e["facility_id"], e["after_delivery"])
        for e in document["events"]
    ]


FACILITIES = ["ATL-HUB", "DFW-HUB", "ORD-HUB", "LAX-HUB", "SFO-LOCAL", "SEA-LOCAL", "JFK-HUB"]
CITIES = [
    {"city": "Atlanta", "region": "GA", "postal_code": "30303", "country": "US"},
    {"city": "Dallas", "region": "TX", "postal_code": "75201", "country": "US"},
    {"city": "Chicago", "region": "IL", "postal_code": "60601", "country": "US"},
    {"city": "Los Angeles", "region": "CA", "postal_code": "90001", "country": "US"},
]
_MIDDLE = [
    "ARRIVED_AT_FACILITY",
    "PROCESSED_AT_FACILITY",
    "DEPARTED_FACILITY",
    "IN_TRANSIT",
    "EXCEPTION",
]
_ENDINGS: list[list[str]] = [
    [],
    ["OUT_FOR_DELIVERY"],
    ["OUT_FOR_DELIVERY", "DELIVERY_ATTEMPTED"],
    ["OUT_FOR_DELIVERY", "DELIVERED"],
    ["OUT_FOR_DELIVERY", "DELIVERY_ATTEMPTED", "OUT_FOR_DELIVERY", "DELIVERED"],
    ["OUT_FOR_DELIVERY", "DELIVERED", "ARRIVED_AT_FACILITY"],  # a late scan after delivery
]


def journey(rng: random.Random, number: str, start: datetime, length: int) -> list[Scan]:
    """`length` (or a few more, for the ending) scans of one package at strictly increasing
    instants, oldest first."""
    ending = rng.choice(_ENDINGS)
    codes = ["LABEL_CREATED", "PICKED_UP"]
    codes += [rng.choice(_MIDDLE) for _ in range(max(0, length - 2 - len(ending)))]
    codes += ending
    moment = start
    scans: list[Scan] = []
    for code in codes:
        moment += timedelta(minutes=rng.randint(7, 240), seconds=rng.randint(0, 59))
        scan: Scan = {
            "tracking_number": number,
            "facility_id": rng.choice(FACILITIES),
            "timestamp": rfc3339(moment, rng.choice([0, -300, -360, -420, -480, 60])),
            "status_code": code,
            "employee_id": f"E{rng.randint(1000, 9999)}",
        }
        if code in ("EXCEPTION", "DELIVERY_ATTEMPTED"):
            scan["exception_code"] = rng.choice(["WEATHER_DELAY", "NO_ACCESS", "ADDRESS_ISSUE"])
        if rng.random() < 0.7:
            scan["location"] = dict(rng.choice(CITIES))
        scans.append(scan)
    return scans


def chunks(rng: random.Random, items: list[Scan], low: int, high: int) -> list[list[Scan]]:
    batches: list[list[Scan]] = []
    index = 0
    while index < len(items):
        size = rng.randint(low, high)
        batches.append(items[index : index + size])
        index += size
    return batches


@dataclass
class Verification:
    mismatches: dict[str, str] = field(default_factory=dict)

    def describe(self, limit: int = 5) -> str:
        shown = list(self.mismatches.items())[:limit]
        lines = [f"{len(self.mismatches)} packages differ from what their scans imply:"]
        lines += [f"--- {number}\n{detail}" for number, detail in shown]
        return "\n".join(lines)


def compare(expected: ExpectedDocument, document: dict[str, Any] | None) -> str:
    """'' when the document matches; otherwise what differs, readably."""
    if document is None:
        return "no document (404)"
    observed = observed_events(document)
    problems: list[str] = []
    if document["status"] != expected.status:
        problems.append(f"status {document['status']!r}, expected {expected.status!r}")
    if observed != expected.events:
        keys = [e[:3] for e in observed]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        missing = [e for e in expected.events if e[:3] not in set(keys)]
        extra = [e for e in observed if e[:3] not in {x[:3] for x in expected.events}]
        problems.append(
            f"events differ: {len(observed)} shown, {len(expected.events)} expected;"
            f" duplicated {twice}; missing {missing}; unexpected {extra}"
        )
        if not (twice or missing or extra):
            problems.append(f"order or flags differ:\n  got  {observed}\n  want {expected.events}")
    return "; ".join(problems)


async def settle(
    client: httpx2.AsyncClient,
    expected: dict[str, ExpectedDocument],
    *,
    within: float,
    concurrency: int = 16,
) -> Verification:
    """Poll every package's lookup until each matches or `within` seconds pass (processing is
    asynchronous); return what still differs at the end."""
    pending = dict(expected)
    last: dict[str, str] = {}
    deadline = time.monotonic() + within
    limit = asyncio.Semaphore(concurrency)

    async def check(number: str) -> None:
        async with limit:
            response = await client.get(f"/v1/track/{number}")
        if response.status_code == 404:
            last[number] = compare(pending[number], None)
            return
        assert response.status_code == 200, (number, response.status_code, response.text)
        last[number] = compare(pending[number], response.json())
        if not last[number]:
            del pending[number]

    while pending:
        await asyncio.gather(*(check(number) for number in list(pending)))
        if not pending or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    return Verification({number: last[number] for number in pending})
