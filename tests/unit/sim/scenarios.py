"""Scenarios shared by the simulator's unit tests: generated once per session, per fault mix."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from parcelstream.sim.faults import Faults
from parcelstream.sim.network import network
from parcelstream.sim.scenario import Scenario, SimScan, generate

START = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday
DAYS = 14
PER_DAY = 300


SENDING_FAULTS = {
    "missed_scan_rate": 0.1,
    "duplicate_rate": 0.05,
    "late_upload_share": 0.3,
    "offline_flush_share": 0.2,
}
"""Faults in how scans reach the server: the journeys stay those of the clean network."""
TRIP_FAULTS = {
    "failed_attempt_rate": 0.15,
    "return_to_sender_rate": 0.05,
    "weather_days_per_month": 4.0,
}
"""Faults that change the journeys themselves."""


@cache
def scenario(kind: str = "clean", seed: int = 11) -> Scenario:
    """A fortnight from START over a network that is "clean", has the "default" faults, or only
    the SENDING_FAULTS ("sending") or TRIP_FAULTS ("trips")."""
    rates = {"sending": SENDING_FAULTS, "trips": TRIP_FAULTS, "clean": {}}.get(kind)
    faults = Faults() if rates is None else Faults(**{**_clean(), **rates})
    return generate(seed, START, DAYS, PER_DAY, faults)


def _clean() -> dict[str, Any]:
    clean = Faults.none()
    return {name: getattr(clean, name) for name in clean.__slots__}


def zone_of(facility_id: str) -> ZoneInfo:
    return _zones()[facility_id]


@cache
def _zones() -> dict[str, ZoneInfo]:
    net = network()
    zones = {h.facility_id: h.zone for h in net.hubs}
    zones[net.air_hub.facility_id] = net.air_hub.zone
    for metro in net.metros:
        for facility in (*metro.pickups, metro.sort, metro.station):
            zones[facility.facility_id] = facility.zone
    return zones


def happened(scan: SimScan) -> datetime:
    return datetime.fromisoformat(scan.body["timestamp"])


def key(scan: SimScan) -> tuple[str, str, str, str]:
    b = scan.body
    return (b["tracking_number"], b["facility_id"], b["timestamp"], b["status_code"])
