"""Transit statistics learned from delivered histories: after each kind of scan at each place, on
which later delivery day and at what local hour the packages were delivered.

Counting delivery days rather than hours makes weekends and cut-offs come out right: a package
that reaches its station after the morning's cut-off on a Friday is delivered "one delivery day
later", which is Monday for ground and Saturday for next-day air, whatever weekday it was
learned on. Which weekdays a service delivers on is learned too.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from parcelstream.domain.estimate_network import Network, NetworkBuilder, scan_code
from parcelstream.domain.estimate_stops import StopKey, StopTimes, StopTimesBuilder
from parcelstream.domain.estimate_windows import (
    DayDistribution,
    TimedDistribution,
)
from parcelstream.domain.packages import Address, Package
from parcelstream.domain.promise import from_local, to_local
from parcelstream.domain.scans import Location, Scan, ScanCode
from parcelstream.domain.status import PackageState, Status
from parcelstream.domain.zones import zone_name

SAMPLE_CAP = 1000
"""Deliveries kept per statistic (a uniform sample beyond that), so memory stays bounded."""
MIN_WEEKDAY_SHARE = 0.02
"""A weekday outside Monday to Friday joins a service's delivery days above this share."""
MON_FRI = frozenset(range(5))

_HOUR = 3_600_000_000
_MIDNIGHT = time(0, 0)

Key = tuple[object, ...]
Route = tuple[str | None, str | None, str | None, str | None]
"""(origin region, destination region, destination area, service): regions as
"<country>-<region>", the area as a US 3-digit ZIP prefix (a sectional centre) or the region."""
DEFAULT_ZONE = "UTC"


@dataclass(frozen=True, slots=True)
class EtaStats:
    remaining: dict[Key, DayDistribution | TimedDistribution] = field(default_factory=dict)
    """From a scan to delivery, by what the scan was and where (`facility_keys`, `lane_key`)."""
    lanes: dict[Key, DayDistribution] = field(default_factory=dict)
    """From pickup to delivery, by `lane_keys`."""
    calendars: dict[str | None, frozenset[int]] = field(default_factory=dict)
    """The weekdays (0 = Monday) each service delivers on."""
    stops: StopTimes = field(default_factory=StopTimes)
    """From OUT_FOR_DELIVERY to delivery, by destination postal code (`stop_key`)."""
    network: Network = field(default_factory=Network)
    """Next facilities and hop times, to chain from where a package is to its station."""
    deliveries: int = 0
    """How many delivered packages these were learned from."""
    draws: dict[tuple[str, int, int], list[int] | None] | None = None
    """While calibrating, the network's draws per (tracking number, scan time, now), which no
    price changes; None otherwise."""
    anchors: dict[tuple[object, ...], tuple[Sequence[tuple[int, float]], int] | None] = field(
        default_factory=dict, compare=False, repr=False
    )
    """The network source's deliveries to draw from after an arrival at a station, by station,
    destination, day and few minutes of the day (estimate_chain.py), found once."""
    prices: dict[str, float] = field(default_factory=dict)
    """Hours of window width one whole share of deliveries inside is worth (`shortest`), by
    `stage`: calibrated so that the windows hold CONFIDENCE overall; none, a fixed share."""

    def calendar(self, service: str | None) -> frozenset[int]:
        return self.calendars.get(service, MON_FRI)


_Sample = tuple[int, int, float, str | None, float]
"""(anchor date, delivery date, local hour of delivery, service, local hour of the anchor)"""


class StatsBuilder:
    """Accumulates delivered histories (in any order, one at a time) into EtaStats."""

    def __init__(self, seed: int = 0) -> None:
        self._random = random.Random(seed)
        self._remaining: dict[Key, list[_Sample]] = {}
        self._lanes: dict[Key, list[_Sample]] = {}
        self._seen: dict[tuple[int, Key], int] = {}
        self._weekdays: dict[str | None, list[int]] = {}
        self._stops = StopTimesBuilder()
        self._network = NetworkBuilder(self._random)
        self._deliveries = 0

    def add(self, package: Package | None, state: PackageState) -> bool:
        """Learn from one package; False (and nothing learned) if it was not delivered."""
        delivered = delivered_at(state)
        if delivered is None:
            return False
        self._deliveries += 1
        zone = ZoneInfo(destination_zone(package, state))
        place = route(package, state)
        service = place[3]
        local = to_local(delivered, zone)
        delivered_day = local.date()
        hour = (delivered - from_local(delivered_day, _MIDNIGHT, zone)) / _HOUR
        self._weekdays.setdefault(service, [0] * 7)[delivered_day.weekday()] += 1
        runs: list[Scan] = []
        for scan in state.history:
            if scan.occurred_at >= delivered:
                break
            if scan.status_code is ScanCode.OUT_FOR_DELIVERY:
                runs.append(scan)
            sample = _sample(scan, zone, delivered_day, hour, service)
            for key in (*facility_keys(scan, place), lane_key(scan, place)):
                self._keep(self._remaining, key, sample)
        picked = picked_up(state)
        if picked is not None and picked.occurred_at < delivered:
            sample = _sample(picked, zone, delivered_day, hour, service)
            for key in lane_keys(place):
                self._keep(self._lanes, key, sample)
        self._network.add(state.history, delivered, place[1:])
        stop = stop_key(package, service)
        if stop is not None:
            for out in runs:
                self._stops.add(
                    stop,
                    to_local(out.occurred_at, zone).toordinal(),
                    (delivered - out.occurred_at) / _HOUR,
                    delivered=out is runs[-1],
                    route=out.employee_id,
                )
        return True

    def build(self) -> EtaStats:
        calendars = {s: _calendar(counts) for s, counts in self._weekdays.items()}

        def days(sample: _Sample) -> int:
            calendar = calendars.get(sample[3], MON_FRI)
            start, _ = shift_anchor(date.fromordinal(sample[0]), sample[4], calendar)
            return _days_between(start.toordinal(), sample[1], calendar)

        def tod(sample: _Sample) -> float:
            return shift_anchor(
                date.fromordinal(sample[0]), sample[4], calendars.get(sample[3], MON_FRI)
            )[1]

        def distribution(key: Key, samples: list[_Sample]) -> DayDistribution | TimedDistribution:
            if key[0] == "t":
                return TimedDistribution((tod(s), days(s), s[2]) for s in samples)
            return DayDistribution((days(s), s[2]) for s in samples)

        return EtaStats(
            remaining={k: distribution(k, v) for k, v in self._remaining.items()},
            lanes={k: DayDistribution((days(s), s[2]) for s in v) for k, v in self._lanes.items()},
            calendars=calendars,
            stops=self._stops.build(),
            network=self._network.build(),
            deliveries=self._deliveries,
        )

    def _keep(self, into: dict[Key, list[_Sample]], key: Key, sample: _Sample) -> None:
        kept = into.get(key)
        if kept is None:
            into[key] = [sample]
            self._seen[id(into), key] = 1
            return
        seen = self._seen[id(into), key] = self._seen[id(into), key] + 1
        if len(kept) < SAMPLE_CAP:
            kept.append(sample)
        else:  # reservoir sampling: every delivery ends up kept with the same chance
            slot = self._random.randrange(seen)
            if slot < SAMPLE_CAP:
                kept[slot] = sample


def _sample(
    anchor_scan: Scan, zone: ZoneInfo, delivered: date, hour: float, service: str | None
) -> _Sample:
    anchor = to_local(anchor_scan.occurred_at, zone)
    return (anchor.toordinal(), delivered.toordinal(), hour, service, local_hours(anchor))


STAGES = ("out_for_delivery", "on_the_way")
NETWORK_PRICE = "on_the_way/network"
"""The price of width of windows chained through the network, on the way: their draws say how
likely each day is, so they are priced apart from the statistics that cannot."""


def stage(latest: Scan | None) -> str:
    """Out for delivery (hours to go, a day settled) or still on the way: each has its own price
    of width, as a day's more width means something else for each."""
    if latest is not None and latest.status_code is ScanCode.OUT_FOR_DELIVERY:
        return STAGES[0]
    return STAGES[1]


def shift_anchor(day: date, tod: float, calendar: frozenset[int]) -> tuple[date, float]:
    """An anchor on a day nothing is delivered (a Saturday scan of a ground package) counts from
    the start of the next delivery day: a scan late on Saturday and one early on Monday morning
    are then alike, as they are for the package."""
    if day.weekday() in calendar:
        return day, tod
    while day.weekday() not in calendar:
        day += timedelta(days=1)
    return day, 0.0


@lru_cache(maxsize=65_536)
def _days_between(first: int, last: int, calendar: frozenset[int]) -> int:
    """Delivery days after the date `first` up to and including `last` (ordinals)."""
    return sum(1 for n in range(first + 1, last + 1) if date.fromordinal(n).weekday() in calendar)


def _calendar(counts: list[int]) -> frozenset[int]:
    total = sum(counts) or 1
    extra = {day for day in (5, 6) if counts[day] / total >= MIN_WEEKDAY_SHARE}
    return MON_FRI | extra


def delivered_at(state: PackageState) -> int | None:
    """When the package was delivered (the scan that made it DELIVERED), if it was."""
    if state.status is not Status.DELIVERED:
        return None
    for transition in reversed(state.transitions):
        if transition.status is Status.DELIVERED:
            return transition.cause.occurred_at
    return None


def picked_up(state: PackageState) -> Scan | None:
    """The first scan that shows the package in the carrier's hands."""
    for scan in state.history:
        if scan.status_code is not ScanCode.LABEL_CREATED:
            return scan
    return None


def local_hours(moment: datetime) -> float:
    return moment.hour + moment.minute / 60 + moment.second / 3600


def facility_keys(scan: Scan, place: Route) -> tuple[Key, ...]:
    """From the narrowest statistic to the widest: this scan at this facility for this service
    and destination area at about this time of day (a TimedDistribution); at any facility in
    the destination's area at about this time of day; then at any time; then for the
    destination region; at any facility of the scan's area (a metro's pickup points); then for
    any destination; then for any service."""
    return keys_at(scan_code(scan), scan.facility_id, scan.location, place)


def keys_at(what: str, facility: str, where: Location | None, place: Route) -> tuple[Key, ...]:
    """`facility_keys` of a scan coded `what` (`scan_code`) at `facility`, located `where`."""
    _, region, area, service = place
    near = _area(where) if where is not None else None
    # In the destination's own area (its delivery station), every station keeps the same
    # cut-offs: the time of day says as much there as the station does.
    local = ("t", what, "destination", service) if near is not None and near == area else None
    return (
        ("t", what, facility, area, service),
        *((local,) if local else ()),
        ("f", what, facility, area, service),
        ("f", what, facility, region, service),
        ("a", what, near, area, service),
        ("a", what, near, region, service),
        ("f", what, facility, service),
        ("f", what, facility),
    )


def lane_key(scan: Scan, place: Route) -> Key:
    """This kind of scan anywhere on the lane."""
    return ("l", scan_code(scan), *lane(place))


def lane(place: Route) -> Key:
    """(origin region, destination region, service)."""
    return (place[0], place[1], place[3])


def lane_keys(place: Route) -> tuple[Key, ...]:
    """The lane, then any lane into the destination region, then any lane: at the service."""
    return (lane(place), (None, place[1], place[3]), (None, None, place[3]))


def route(package: Package | None, state: PackageState) -> Route:
    origin = package.origin if package is not None else None
    destination = package.destination if package is not None else None
    service = package.service_type.strip().upper() if package and package.service_type else None
    origin_region = _region(origin) if origin is not None else None
    if origin_region is None:
        first = next((s.location for s in state.history if s.location is not None), None)
        origin_region = _region(first) if first is not None else None
    if destination is None:
        return (origin_region, None, None, service)
    return (origin_region, _region(destination), _area(destination), service)


def stop_key(package: Package | None, service: str | None) -> StopKey | None:
    """(service, destination postal code): a US code cut to its 5 digits. Only ever a key of
    the statistics; never shown or published."""
    where = package.destination if package is not None else None
    if where is None or not where.postal_code:
        return None
    postal = where.postal_code.strip().upper().replace(" ", "")
    country = (where.country or "US").strip().upper()
    if country == "US":
        postal = postal[:5]
    return (service, f"{country}-{postal}")


def destination_zone(package: Package | None, state: PackageState) -> str:
    """The destination's zone: from the address, else from the last scan's place, else UTC."""
    where = package.destination if package is not None else None
    if where is not None:
        found = zone_name(where.country, where.region, where.postal_code, where.city)
        if found:
            return found
    place = state.last_location
    if place is not None:
        found = zone_name(place.country, place.region, place.postal_code, place.city)
        if found:
            return found
    return DEFAULT_ZONE


def _region(where: Address | Location) -> str | None:
    country = (where.country or "US").strip().upper()
    return f"{country}-{where.region.strip().upper()}" if where.region else None


def _area(where: Address | Location) -> str | None:
    postal = (where.postal_code or "").strip()
    country = (where.country or "US").strip().upper()
    if country == "US" and len(postal) >= 5 and postal[:3].isdigit():
        return f"US-{postal[:3]}"
    return _region(where)
