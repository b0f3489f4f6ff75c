"""Calendar rules of the simulated carrier: local time, business days, departure schedules, the
days each service delivers on, and the service-level promise."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

GROUND = "GROUND"
EXPRESS_2DAY = "EXPRESS_2DAY"
EXPRESS_1DAY = "EXPRESS_1DAY"
SERVICES: tuple[str, ...] = (GROUND, EXPRESS_2DAY, EXPRESS_1DAY)

UPS_SERVICE_CODES: dict[str, str] = {GROUND: "03", EXPRESS_2DAY: "02", EXPRESS_1DAY: "01"}
"""The service digits of a UPS 1Z number for each service level (Ground, 2nd Day Air, Next Day
Air), so a number says what it was shipped as, as real ones do."""

MON_FRI = frozenset(range(5))
MON_SAT = frozenset(range(6))

DELIVERY_WEEKDAYS: dict[str, frozenset[int]] = {
    GROUND: MON_FRI,
    EXPRESS_2DAY: MON_FRI,
    EXPRESS_1DAY: MON_SAT,  # next-day air also delivers on Saturdays
}
LINEHAUL_WEEKDAYS = MON_SAT
"""No truck leaves a sort centre or hub on a Sunday."""
FLIGHT_WEEKDAYS = MON_FRI
"""Express flights leave origin cities Monday to Friday evenings."""
AIR_HUB_WEEKDAYS = MON_SAT
"""The air hub's morning sort runs Monday to Saturday."""

SORT_DEPARTURES: tuple[float, ...] = (23.0,)
"""Local hours at which linehaul trucks leave a sort centre for its hub."""
LOCAL_DEPARTURES: tuple[float, ...] = (3.5,)
"""Local hours at which the shuttle leaves a sort centre for the same metro's station."""
HUB_WAVES: tuple[float, ...] = (1.0, 5.0, 9.0, 13.0, 17.0, 21.0)
AIR_HUB_WAVES: tuple[float, ...] = (4.5,)
AIR_HUB_TARGET_ARRIVAL = 2.5
"""Flights are timed to reach the air hub by this local hour."""
LATEST_FLIGHT = 21.5
CUTOFF_HOURS = 0.75
"""A package must be ready this long before a truck's departure to make it."""
AIR_CUTOFF_HOURS = 0.5
STATION_CUTOFF: dict[str, float] = {GROUND: 7.5, EXPRESS_2DAY: 8.5, EXPRESS_1DAY: 9.0}
"""Local hour by which a package must be sorted at its station to go out that morning."""
MAX_ATTEMPTS = 3


def local_date(t: float, zone: ZoneInfo) -> date:
    return datetime.fromtimestamp(t, zone).date()


@lru_cache(maxsize=65_536)
def at_local(zone: ZoneInfo, day: date, hours: float) -> float:
    """The instant (epoch seconds) at which the wall clock in `zone` shows `hours` on `day`."""
    whole = round(hours * 3600)
    if whole >= 86_400:
        day += timedelta(days=whole // 86_400)
        whole %= 86_400
    moment = datetime(day.year, day.month, day.day, whole // 3600, whole // 60 % 60, tzinfo=zone)
    return moment.timestamp() + whole % 60


def is_business_day(day: date) -> bool:
    return day.weekday() < 5


def add_business_days(day: date, count: int) -> date:
    while count > 0:
        day += timedelta(days=1)
        if is_business_day(day):
            count -= 1
    return day


def business_days_between(first: date, last: date) -> int:
    """Business days after `first` up to and including `last`."""
    count = 0
    day = first
    while day < last:
        day += timedelta(days=1)
        count += is_business_day(day)
    return count


def promised_by(pickup_day: date, business_days: int, zone: ZoneInfo) -> float:
    """End of the promised day (23:59:59 in the destination's local time), epoch seconds."""
    return at_local(zone, add_business_days(pickup_day, business_days), 24.0) - 1


def next_departure(
    ready: float,
    zone: ZoneInfo,
    region: str,
    hours: tuple[float, ...],
    weekdays: Collection[int],
    weather: Collection[tuple[str, date]],
    cutoff_hours: float = CUTOFF_HOURS,
) -> tuple[float, list[float]]:
    """The first scheduled departure a package ready at `ready` makes, and the departures it
    would have made had weather not cancelled them."""
    day = local_date(ready, zone)
    cancelled: list[float] = []
    while True:
        if day.weekday() in weekdays:
            for hour in hours:
                departs = at_local(zone, day, hour)
                if departs - cutoff_hours * 3600 < ready:
                    continue
                if (region, day) in weather:
                    cancelled.append(departs)
                    continue
                return departs, cancelled
        day += timedelta(days=1)
