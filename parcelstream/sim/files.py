"""Scenario and truth files, JSON Lines.

A scenario file starts with a header line
`{"kind": "scenario", "version": 1, "seed", "start", "days", "packages_per_day", "faults",
"weather"}`, then one `{"kind": "package" | "scan", "sent_at", "body"}` line per event in send
order, then one `{"kind": "truth", ...}` line per package. A truth file holds one Truth per line.
Times are RFC 3339 in UTC. The same scenario always gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import msgspec

from parcelstream.sim.faults import Faults
from parcelstream.sim.scenario import Event, Header, Scenario, SimPackage, SimScan, Truth

VERSION = 1
_encoder = msgspec.json.Encoder()


class BadScenarioFile(ValueError):
    pass


def save_scenario(scenario: Scenario, path: Path) -> None:
    header = scenario.header
    with path.open("wb") as out:
        out.write(
            _line(
                {
                    "kind": "scenario",
                    "version": VERSION,
                    "seed": header.seed,
                    "start": utc_text(header.start),
                    "days": header.days,
                    "packages_per_day": header.packages_per_day,
                    "faults": header.faults.to_json(),
                    "weather": [[region, day.isoformat()] for region, day in scenario.weather_days],
                }
            )
        )
        for event in scenario.events():
            out.write(event_line(event))
        for truth in scenario.truths:
            out.write(_line({"kind": "truth", **truth_json(truth)}))


def event_line(event: Event) -> bytes:
    kind = "package" if isinstance(event, SimPackage) else "scan"
    return _line({"kind": kind, "sent_at": utc_text(event.sent_at), "body": event.body})


def load_scenario(path: Path) -> Scenario:
    header: Header | None = None
    weather: list[tuple[str, date]] = []
    events: list[Event] = []
    truths: list[Truth] = []
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                item = msgspec.json.decode(line)
                kind = item["kind"]
                if number == 1 or kind == "scenario":
                    if kind != "scenario" or item.get("version") != VERSION:
                        raise BadScenarioFile(
                            f"{path}: not a version {VERSION} scenario file (first line)"
                        )
                    header = Header(
                        seed=int(item["seed"]),
                        start=_time(item["start"]),
                        days=int(item["days"]),
                        packages_per_day=int(item["packages_per_day"]),
                        faults=Faults.from_json(item.get("faults") or {}),
                    )
                    weather = [(r, date.fromisoformat(d)) for r, d in item.get("weather", [])]
                elif kind == "package":
                    events.append(SimPackage(item["body"], _time(item["sent_at"])))
                elif kind == "scan":
                    events.append(SimScan(item["body"], _time(item["sent_at"])))
                elif kind == "truth":
                    truths.append(truth_from_json(item))
                else:
                    raise BadScenarioFile(f"{path}:{number}: unknown kind {kind!r}")
            except (msgspec.DecodeError, KeyError, TypeError, ValueError) as exc:
                if isinstance(exc, BadScenarioFile):
                    raise
                raise BadScenarioFile(f"{path}:{number}: {type(exc).__name__}: {exc}") from None
    if header is None:
        raise BadScenarioFile(f"{path}: empty")
    return Scenario(header, events, truths, weather)


def write_truths(truths: Iterable[Truth], path: Path) -> None:
    with path.open("wb") as out:
        for truth in truths:
            out.write(_line(truth_json(truth)))


def read_truths(path: Path) -> list[Truth]:
    with path.open("rb") as lines:
        return [truth_from_json(msgspec.json.decode(line)) for line in lines if line.strip()]


def truth_json(truth: Truth) -> dict[str, Any]:
    return {
        "tracking_number": truth.tracking_number,
        "service_level": truth.service_level,
        "origin_region": truth.origin_region,
        "destination_region": truth.destination_region,
        "destination_zone": truth.destination_zone,
        "shipped_at": utc_text(truth.shipped_at),
        "promised_by": utc_text(truth.promised_by),
        "outcome": truth.outcome,
        "delivered_at": utc_text(truth.delivered_at) if truth.delivered_at else None,
    }


def truth_from_json(item: dict[str, Any]) -> Truth:
    delivered = item.get("delivered_at")
    return Truth(
        tracking_number=item["tracking_number"],
        service_level=item["service_level"],
        origin_region=item["origin_region"],
        destination_region=item["destination_region"],
        destination_zone=item["destination_zone"],
        shipped_at=_time(item["shipped_at"]),
        promised_by=_time(item["promised_by"]),
        outcome=item["outcome"],
        delivered_at=_time(delivered) if delivered else None,
    )


def utc_text(moment: datetime) -> str:
    text = moment.astimezone(UTC).isoformat()
    return text[:-6] + "Z"


def _time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"time without an offset: {text!r}")
    return moment.astimezone(UTC)


def _line(item: dict[str, Any]) -> bytes:
    return _encoder.encode(item) + b"\n"
