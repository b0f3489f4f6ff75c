"""Estimated delivery (EDD): an estimate with a window from a package's history, the statistics
learned from delivered packages (domain/estimate_stats.py) and the time now.

Sources, best first: the window a partner carrier sent with the latest scan ("carrier"); once
out for delivery, how long after the van leaves its route reaches the destination's postal
code ("route"); chaining the network's hops from where the package is to its delivery station,
then when packages were delivered after reaching that station at that time of day ("network");
when packages were delivered after the same kind of scan at the same facility
("facility"); after that kind of scan anywhere on the lane, or since pickup on the lane
("lane"); and, with no history to learn from, the service level's promise ("service_level").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from parcelstream.domain.estimate_chain import network_window
from parcelstream.domain.estimate_stats import (
    DEFAULT_ZONE,
    NETWORK_PRICE,
    EtaStats,
    Key,
    destination_zone,
    facility_keys,
    lane_key,
    lane_keys,
    local_hours,
    picked_up,
    route,
    shift_anchor,
    stage,
    stop_key,
)
from parcelstream.domain.estimate_windows import DayDistribution, TimedDistribution, Window
from parcelstream.domain.milestones import Occurrence
from parcelstream.domain.packages import Package
from parcelstream.domain.promise import PROMISE_CONFIDENCE, overdue_window, promise, to_local
from parcelstream.domain.scans import Location, Scan, ScanCode
from parcelstream.domain.status import PackageState, Status

CONFIDENCE = 0.9
"""The share of deliveries the learned windows are meant to hold, taken together (each
estimate states its own: a window's price of width is calibrated to hold this overall)."""
CARRIER_CONFIDENCE = 0.9
"""What a partner carrier's own window is taken to be worth."""
SOURCES = ("carrier", "route", "network", "facility", "lane", "service_level")
ESTIMATE_CHANGED = "ESTIMATE_CHANGED"
"""The occurrence the notifier sends when the estimated date moves (opt-in, never by default)."""

_RETURNED = "RETURNED_TO_SENDER"
_HOUR = 3_600_000_000

__all__ = [
    "CONFIDENCE",
    "DEFAULT_ZONE",
    "ESTIMATE_CHANGED",
    "Estimate",
    "EstimateRecord",
    "EtaStats",
    "changed_event",
    "destination_zone",
    "estimate",
    "revise",
    "service_level_estimate",
]


@dataclass(frozen=True, slots=True)
class Estimate:
    date: str
    """YYYY-MM-DD of `at` in the destination's zone."""
    at: int
    earliest: int
    latest: int
    """UTC epoch microseconds."""
    confidence: float
    source: str
    zone: str
    """IANA zone of the destination; the document shows times in it."""


@dataclass(frozen=True, slots=True)
class EstimateRecord:
    """What is kept per package: the first estimate ever given and the latest."""

    original: Estimate
    latest: Estimate
    changes: int = 0
    """How often the latest estimate's date moved; numbers the estimate-changed events."""


def estimate(
    package: Package | None, state: PackageState, stats: EtaStats, now: int
) -> Estimate | None:
    """The estimate for a package as of `now`; None once it is delivered or going back."""
    if state.status is Status.DELIVERED or _returning(state):
        return None
    zone_text = destination_zone(package, state)
    zone = ZoneInfo(zone_text)
    latest = state.history[-1] if state.history else None
    if latest is not None:
        given = _carrier_window(latest, now, zone_text, zone)
        if given is not None:
            return given
    place = route(package, state)
    calendar = stats.calendar(place[3])
    price = stats.prices.get(stage(latest))
    if latest is not None and latest.status_code is ScanCode.OUT_FOR_DELIVERY:
        stop = stop_key(package, place[3])
        hours = stats.stops.window(stop, latest.employee_id) if stop is not None else None
        if hours is not None:
            low, middle, high = (latest.occurred_at + int(h * _HOUR) for h in hours[:3])
            if high > now:
                return _learned((low, middle, high, hours[3]), now, "route", zone_text, zone)
    if latest is not None and stats.remaining and stats.network.routes:
        chained = stats.prices.get(NETWORK_PRICE, price)
        window = network_window(latest, place, stats, calendar, zone, now, chained)
        if window is not None:
            return _learned(window, now, "network", zone_text, zone)
    if latest is not None and stats.remaining:
        anchor = to_local(latest.occurred_at, zone)
        day, tod = shift_anchor(anchor.date(), local_hours(anchor), calendar)
        for source, keys in (
            ("facility", facility_keys(latest, place)),
            ("lane", (lane_key(latest, place),)),
        ):
            for key in keys:
                window = _window(stats.remaining, key, day, calendar, zone, now, tod, price)
                if window is not None:
                    return _learned(window, now, source, zone_text, zone)
    picked = picked_up(state)
    if picked is not None and stats.lanes:
        anchor = to_local(picked.occurred_at, zone)
        day, tod = shift_anchor(anchor.date(), local_hours(anchor), calendar)
        for key in lane_keys(place):
            window = _window(stats.lanes, key, day, calendar, zone, now, tod, price)
            if window is not None:
                return _learned(window, now, "lane", zone_text, zone)
    return service_level_estimate(package, state, now, zone_text, zone)


def service_level_estimate(
    package: Package | None, state: PackageState, now: int, zone_text: str, zone: ZoneInfo
) -> Estimate:
    """The cold start: the service's promise, counted from pickup (or the first sign of the
    package); the rest of the next delivery day once the promise has passed."""
    picked = picked_up(state)
    if picked is not None:
        shipped = picked.occurred_at
    elif state.history:
        shipped = state.history[0].occurred_at
    else:
        shipped = package.registered_at if package is not None else now
    promised = promise(package.service_type if package else None, max(shipped, 0), zone)
    if promised.latest < now:
        promised = overdue_window(now, zone)
    earliest = max(promised.earliest, now)
    at = min(max(promised.at, earliest), promised.latest)
    return _make(
        at, earliest, promised.latest, PROMISE_CONFIDENCE, "service_level", zone_text, zone
    )


def revise(record: EstimateRecord | None, new: Estimate) -> tuple[EstimateRecord, bool]:
    """The record after a new estimate, and whether its date moved (an estimate-changed event).
    The first estimate is the original and moves nothing."""
    if record is None:
        return EstimateRecord(original=new, latest=new), False
    moved = new.date != record.latest.date
    return EstimateRecord(record.original, new, record.changes + (1 if moved else 0)), moved


def changed_event(
    tracking_number: str, record: EstimateRecord, now: int, where: Location | None = None
) -> Occurrence:
    """The estimate-changed occurrence for a record whose date just moved (`where`: the package's
    last known place); numbered by change, so recomputing the same move never notifies twice."""
    latest = record.latest
    offset = to_local(now, ZoneInfo(latest.zone)).utcoffset()
    return Occurrence(
        tracking_number=tracking_number,
        milestone=ESTIMATE_CHANGED,
        number=record.changes,
        detail=latest.date,
        occurred_at=now,
        utc_offset=int(offset.total_seconds()) // 60 if offset is not None else 0,
        location=where,
    )


def _window(
    table: Mapping[Key, DayDistribution | TimedDistribution],
    key: Key,
    anchor_day: date,
    calendar: frozenset[int],
    zone: ZoneInfo,
    now: int,
    tod: float,
    price: float | None,
) -> Window | None:
    found = table.get(key)
    return found.window(anchor_day, calendar, zone, now, tod, price) if found else None


def _carrier_window(latest: Scan, now: int, zone_text: str, zone: ZoneInfo) -> Estimate | None:
    given = latest.carrier_window
    if given is None or given.latest < now:
        return None
    earliest = max(given.earliest, now)
    return _make(
        (earliest + given.latest) // 2,
        earliest,
        given.latest,
        CARRIER_CONFIDENCE,
        "carrier",
        zone_text,
        zone,
    )


def _learned(window: Window, now: int, source: str, zone_text: str, zone: ZoneInfo) -> Estimate:
    low, middle, high, held = window
    earliest = max(low, now)
    latest = max(high, earliest)
    at = min(max(middle, earliest), latest)
    return _make(at, earliest, latest, held, source, zone_text, zone)


def _make(
    at: int,
    earliest: int,
    latest: int,
    confidence: float,
    source: str,
    zone_text: str,
    zone: ZoneInfo,
) -> Estimate:
    return Estimate(
        date=to_local(at, zone).date().isoformat(),
        at=at,
        earliest=earliest,
        latest=latest,
        confidence=confidence,
        source=source,
        zone=zone_text,
    )


def _returning(state: PackageState) -> bool:
    return state.status is Status.EXCEPTION and state.status_detail == _RETURNED
