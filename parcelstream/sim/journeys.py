"""One package's trip through the network: the scans it gets, when they happen, and how it ends,
before any fault in how the scans are sent (missed, late, duplicated) is applied."""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, timedelta
from statistics import NormalDist
from typing import Protocol

from parcelstream.sim.network import Facility, Metro, lane, network
from parcelstream.sim.routes import EXPRESS_ROUTE_HOURS, ROUTE_HOURS, Stop
from parcelstream.sim.schedule import (
    AIR_CUTOFF_HOURS,
    AIR_HUB_TARGET_ARRIVAL,
    AIR_HUB_WAVES,
    AIR_HUB_WEEKDAYS,
    DELIVERY_WEEKDAYS,
    EXPRESS_1DAY,
    EXPRESS_2DAY,
    FLIGHT_WEEKDAYS,
    HUB_WAVES,
    LATEST_FLIGHT,
    LINEHAUL_WEEKDAYS,
    LOCAL_DEPARTURES,
    MAX_ATTEMPTS,
    SORT_DEPARTURES,
    STATION_CUTOFF,
    at_local,
    is_business_day,
    local_date,
    next_departure,
)

_HOUR = 3600.0
_MINUTE = 60.0
_NORMAL = NormalDist()
_ATTEMPT_REASONS = ("RECIPIENT_UNAVAILABLE", "NO_SECURE_LOCATION", "BUSINESS_CLOSED")
_TRIP_DELAY_RATE = 0.03
"""Share of truck trips held up on the road (a breakdown, a closed highway) by 1-6 hours."""

Weather = Collection[tuple[str, date]]


class Draws(Protocol):
    """Where a journey's randomness comes from: per-package draws, and draws keyed by something
    many packages share (a truck trip, a driver's day), equal for everyone who shares it."""

    def uniform(self, low: float, high: float) -> float: ...

    def chance(self, probability: float) -> bool: ...

    def pick(self, options: tuple[str, ...]) -> str: ...

    def keyed(self, *key: object) -> float: ...


@dataclass(frozen=True, slots=True)
class Step:
    """One scan as it happens (epoch seconds, whole)."""

    at: int
    facility: Facility
    code: str
    exception: str | None = None
    employee: str | None = None
    by_driver: bool = False
    """Scanned on a driver's handheld (which can go offline) rather than a facility scanner."""
    at_address: bool = False
    """Happened at the recipient's address rather than at the facility."""


@dataclass(slots=True)
class Journey:
    steps: list[Step] = field(default_factory=list)
    delivered_at: int | None = None
    returned_at: int | None = None


@dataclass(frozen=True, slots=True)
class Shipment:
    origin: Metro
    destination: Metro
    service: str
    pickup_at: float
    pickup_point: Facility
    stop: Stop
    """Where the recipient's postal code sits on the destination station's planned routes."""
    use_air: bool


def plan_journey(
    shipment: Shipment, draws: Draws, weather: Weather, failed_rate: float, return_rate: float
) -> Journey:
    planner = _Planner(shipment, draws, weather)
    ready = planner.first_mile()
    origin, destination = shipment.origin, shipment.destination
    if origin is destination:
        ready = planner.truck(origin.sort, destination.station, ready, LOCAL_DEPARTURES)
    elif shipment.use_air:
        ready = planner.air(ready)
    else:
        ready = planner.truck(origin.sort, origin.hub, ready, SORT_DEPARTURES)
        ready = planner.hub_sort(ready)
        if origin.hub is not destination.hub:
            ready = planner.truck(origin.hub, destination.hub, ready, HUB_WAVES)
            ready = planner.hub_sort(ready)
        ready = planner.truck(destination.hub, destination.station, ready, HUB_WAVES)
    planner.last_mile(ready, failed_rate, return_rate)
    return planner.journey


class _Planner:
    def __init__(self, shipment: Shipment, draws: Draws, weather: Weather) -> None:
        self.shipment = shipment
        self.draws = draws
        self.weather = weather
        self.journey = Journey()

    def scan(
        self,
        at: float,
        facility: Facility,
        code: str,
        *,
        exception: str | None = None,
        employee: str | None = None,
        by_driver: bool = False,
        at_address: bool = False,
    ) -> int:
        whole = int(at)
        step = Step(whole, facility, code, exception, employee, by_driver, at_address)
        self.journey.steps.append(step)
        return whole

    def first_mile(self) -> float:
        """Picked up during the day; the driver brings the day's pickups to the sort centre in
        the evening, where they are unloaded and sorted."""
        s, d = self.shipment, self.draws
        point, sort = s.pickup_point, s.origin.sort
        if s.use_air:
            # Air packages ride the express courier's run, which meets the evening flight.
            driver = f"X{point.facility_id.replace('-PUP-', '')}"
            back = s.pickup_at + d.uniform(0.75 * _HOUR, 2.5 * _HOUR)
            sorting = (5 * _MINUTE, 25 * _MINUTE)
        else:
            driver = f"P{point.facility_id.replace('-PUP-', '')}"
            day = local_date(s.pickup_at, sort.zone)
            back = at_local(sort.zone, day, 17.75) + d.keyed("return", driver, day) * 2.25 * _HOUR
            back = max(back, s.pickup_at + 20 * _MINUTE)
            sorting = (10 * _MINUTE, 60 * _MINUTE)
        self.scan(s.pickup_at, point, "PICKED_UP", employee=driver, by_driver=True)
        arrived = self.scan(back + d.uniform(0, 30 * _MINUTE), sort, "ARRIVED_AT_FACILITY")
        processed = self.scan(arrived + d.uniform(*sorting), sort, "PROCESSED_AT_FACILITY")
        return float(processed)

    def truck(
        self, start: Facility, end: Facility, ready: float, hours: tuple[float, ...]
    ) -> float:
        departs, cancelled = next_departure(
            ready, start.zone, start.region, hours, LINEHAUL_WEEKDAYS, self.weather
        )
        return self._travel(start, end, ready, departs, cancelled)

    def _travel(
        self, start: Facility, end: Facility, ready: float, departs: float, cancelled: list[float]
    ) -> float:
        d = self.draws
        for when in cancelled[:1]:  # one notice per stop, however long the storm lasts
            self.scan(when - 15 * _MINUTE, start, "EXCEPTION", exception="WEATHER_DELAY")
        self.scan(max(ready + 60, departs - d.uniform(0, 25 * _MINUTE)), start, "DEPARTED_FACILITY")
        route = lane(start, end)
        arrives = departs + route.hours * _HOUR * self._trip_factor(start, end, departs)
        unloading = (20 if route.air else 40) * _MINUTE
        arrived = self.scan(arrives + d.uniform(0, unloading), end, "ARRIVED_AT_FACILITY")
        return float(arrived)

    def _trip_factor(self, start: Facility, end: Facility, departs: float) -> float:
        """One draw per truck or flight: every package on it arrives together."""
        d = self.draws
        trip = (start.facility_id, end.facility_id, int(departs))
        u = min(max(d.keyed("trip", *trip), 1e-6), 1 - 1e-6)
        factor = math.exp(lane(start, end).sigma * _NORMAL.inv_cdf(u))
        if d.keyed("held", *trip) < _TRIP_DELAY_RATE:
            factor += (1 + 5 * d.keyed("delay", *trip)) / lane(start, end).hours
        return factor

    def hub_sort(self, arrived: float) -> float:
        return arrived + self.draws.uniform(20 * _MINUTE, 120 * _MINUTE)

    def air(self, ready: float) -> float:
        """Flown overnight through the air hub; two-day air waits a day at the hub."""
        s = self.shipment
        sort, air_hub = s.origin.sort, network().air_hub
        day = local_date(ready, sort.zone)
        cancelled: list[float] = []
        while True:
            if day.weekday() in FLIGHT_WEEKDAYS:
                departs = self._flight_time(day)
                if departs - AIR_CUTOFF_HOURS * _HOUR >= ready:
                    if (sort.region, day) not in self.weather:
                        break
                    cancelled.append(departs)
            day += timedelta(days=1)
        arrived = self._travel(sort, air_hub, ready, departs, cancelled)
        ready = arrived + self.draws.uniform(10 * _MINUTE, 40 * _MINUTE)
        if s.service == EXPRESS_2DAY:
            ready += 20 * _HOUR
        departs, cancelled = next_departure(
            ready,
            air_hub.zone,
            air_hub.region,
            AIR_HUB_WAVES,
            AIR_HUB_WEEKDAYS,
            self.weather,
            AIR_CUTOFF_HOURS,
        )
        return self._travel(air_hub, s.destination.station, ready, departs, cancelled)

    def _flight_time(self, day: date) -> float:
        """Flights leave as late as still reaches the air hub's night sort, and by 21:30."""
        sort, air_hub = self.shipment.origin.sort, network().air_hub
        reach = at_local(air_hub.zone, day + timedelta(days=1), AIR_HUB_TARGET_ARRIVAL)
        latest = reach - lane(sort, air_hub).hours * _HOUR
        return min(latest, at_local(sort.zone, day, LATEST_FLIGHT))

    def last_mile(self, arrived: float, failed_rate: float, return_rate: float) -> None:
        """Out for delivery on the first morning it can go; failed attempts are retried the next
        business day, up to three attempts; refused packages go back to the sender."""
        s, d = self.shipment, self.draws
        station, service = s.destination.station, s.service
        zone = station.zone
        ready = arrived + d.uniform(10 * _MINUTE, 40 * _MINUTE)
        day = local_date(ready, zone)
        if ready > at_local(zone, day, STATION_CUTOFF[service]):
            day += timedelta(days=1)
        driver = f"D{s.destination.code}{s.stop.route:02d}"
        refused = d.chance(return_rate)
        attempts = 0
        while True:
            day = self._delivery_day(day, service, retry=attempts > 0, ready=ready)
            loads = at_local(zone, day, 7.75) + d.keyed("load", driver, day) * 1.25 * _HOUR
            loads = max(loads, ready + 5 * _MINUTE)
            out = self.scan(
                loads + d.uniform(0, 10 * _MINUTE),
                station,
                "OUT_FOR_DELIVERY",
                employee=driver,
                by_driver=True,
            )
            stop = self._stop_time(out, driver, day)
            if refused:
                self.scan(
                    stop,
                    station,
                    "EXCEPTION",
                    exception="REFUSED",
                    employee=driver,
                    by_driver=True,
                    at_address=True,
                )
                self._return(day, stop)
                return
            if d.chance(failed_rate):
                attempts += 1
                self.scan(
                    stop,
                    station,
                    "DELIVERY_ATTEMPTED",
                    exception=d.pick(_ATTEMPT_REASONS),
                    employee=driver,
                    by_driver=True,
                    at_address=True,
                )
                if attempts >= MAX_ATTEMPTS:
                    self._return(day, stop)
                    return
                ready = stop
                day += timedelta(days=1)
                continue
            self.journey.delivered_at = self.scan(
                stop, station, "DELIVERED", employee=driver, by_driver=True, at_address=True
            )
            return

    def _stop_time(self, out: float, driver: str, day: date) -> float:
        """When the van reaches this address: the drive to the route's first stop, then the
        address's place in the planned order, stretched by how heavy the day's load is (shared
        by every package on the route that day), plus a little traffic of its own."""
        s, d = self.shipment, self.draws
        express = s.service == EXPRESS_1DAY
        run = "express" if express else "ground"
        hours = EXPRESS_ROUTE_HOURS if express else ROUTE_HOURS
        drive = (0.3 + 0.4 * d.keyed("drive", run, driver, day)) * _HOUR
        length = hours * (0.85 + 0.3 * d.keyed("length", run, driver, day)) * _HOUR
        place = s.stop.start + s.stop.width * d.uniform(0.0, 1.0)
        traffic = d.keyed("traffic", run, driver, day, s.stop.start) - 0.5
        return out + drive + length * place + traffic * 0.5 * _HOUR

    def _delivery_day(self, day: date, service: str, *, retry: bool, ready: float) -> date:
        station = self.shipment.destination.station
        weekdays = DELIVERY_WEEKDAYS[service]
        noticed = False
        while True:
            allowed = day.weekday() in weekdays and (not retry or is_business_day(day))
            if allowed and (station.region, day) not in self.weather:
                return day
            if allowed and not noticed:
                notice = max(at_local(station.zone, day, 7.0), ready + _MINUTE)
                self.scan(notice, station, "EXCEPTION", exception="WEATHER_DELAY")
                noticed = True
            day += timedelta(days=1)

    def _return(self, day: date, last: float) -> None:
        station = self.shipment.destination.station
        at = max(at_local(station.zone, day, 20.0), last + 30 * _MINUTE)
        self.journey.returned_at = self.scan(
            at, station, "EXCEPTION", exception="RETURNED_TO_SENDER"
        )
