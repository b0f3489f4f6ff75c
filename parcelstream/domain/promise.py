"""Service-level promises: how many business days a service takes, counted from the day a
package is handed over (after the day's cut-off it counts from the next business day).

The cold-start estimate of a package, and the baseline the learned estimates are measured against.
Business days are Monday to Friday; Saturdays and Sundays neither count nor receive deliveries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_EPOCH = datetime(1970, 1, 1, tzinfo=ZoneInfo("UTC"))

# Upper-cased service names as carriers and shippers write them, to business days in transit.
SERVICE_DAYS: dict[str, int] = {
    "NEXT_DAY": 1,
    "NEXT_DAY_AIR": 1,
    "OVERNIGHT": 1,
    "PRIORITY_OVERNIGHT": 1,
    "STANDARD_OVERNIGHT": 1,
    "EXPRESS": 1,
    "PRIORITY_MAIL_EXPRESS": 1,
    "TWO_DAY": 2,
    "2DAY": 2,
    "2_DAY": 2,
    "SECOND_DAY_AIR": 2,
    "2ND_DAY_AIR": 2,
    "FEDEX_2_DAY": 2,
    "PRIORITY": 3,
    "PRIORITY_MAIL": 3,
    "THREE_DAY": 3,
    "3_DAY_SELECT": 3,
    "EXPRESS_SAVER": 3,
    "GROUND": 5,
    "HOME_DELIVERY": 5,
    "STANDARD": 5,
    "GROUND_ADVANTAGE": 5,
    "FIRST_CLASS": 5,
    "ECONOMY": 7,
}
DEFAULT_DAYS = 5
"""An unknown or missing service is promised like ground."""

CUT_OFF = time(17, 0)
"""Handed over after this local time, a package ships the next business day."""
DELIVERY_START = time(8, 0)
DELIVERY_END = time(20, 0)
"""Deliveries happen between these local times on a business day."""
PROMISE_CONFIDENCE = 0.8
"""What a promise is worth before any history says otherwise."""


@dataclass(frozen=True, slots=True)
class Promise:
    """A promise as UTC epoch microseconds: delivered between `earliest` and `latest`, most
    likely at `at` (the middle of the promised day's delivery hours)."""

    at: int
    earliest: int
    latest: int


def service_days(service_type: str | None) -> int:
    if not service_type:
        return DEFAULT_DAYS
    name = service_type.strip().upper().replace(" ", "_").replace("-", "_")
    return SERVICE_DAYS.get(name, DEFAULT_DAYS)


def is_business_day(day: date) -> bool:
    return day.weekday() < 5


def add_business_days(day: date, days: int) -> date:
    """The business day `days` business days after `day` (`day` itself need not be one)."""
    while days > 0:
        day += timedelta(days=1)
        if is_business_day(day):
            days -= 1
    return day


def next_business_day(day: date) -> date:
    """`day` itself when it is a business day, else the next one."""
    while not is_business_day(day):
        day += timedelta(days=1)
    return day


def promise(service_type: str | None, shipped_at: int, zone: ZoneInfo) -> Promise:
    """The service level's promise for a package handed over at `shipped_at`, in `zone`."""
    handed = to_local(shipped_at, zone)
    start = handed.date()
    if not is_business_day(start) or handed.time() >= CUT_OFF:
        start = add_business_days(start, 1)
    promised = add_business_days(start, service_days(service_type))
    first = add_business_days(start, 1)
    return Promise(
        at=from_local(promised, _midday(), zone),
        earliest=from_local(first, DELIVERY_START, zone),
        latest=from_local(promised, DELIVERY_END, zone),
    )


def overdue_window(now: int, zone: ZoneInfo) -> Promise:
    """For a package past every expectation: the rest of today's delivery hours if any are left,
    else the next business day's."""
    local = to_local(now, zone)
    day = local.date()
    if not is_business_day(day) or local.time() >= DELIVERY_END:
        day = add_business_days(day, 1)
    earliest = max(now, from_local(day, DELIVERY_START, zone))
    latest = from_local(day, DELIVERY_END, zone)
    return Promise(at=(earliest + latest) // 2, earliest=earliest, latest=latest)


def to_local(micros: int, zone: ZoneInfo) -> datetime:
    return (_EPOCH + timedelta(microseconds=micros)).astimezone(zone)


def from_local(day: date, clock: time, zone: ZoneInfo) -> int:
    moment = datetime.combine(day, clock, tzinfo=zone) - _EPOCH
    return (moment.days * 86_400 + moment.seconds) * 1_000_000 + moment.microseconds


def _midday() -> time:
    start = DELIVERY_START.hour * 60 + DELIVERY_START.minute
    end = DELIVERY_END.hour * 60 + DELIVERY_END.minute
    middle = (start + end) // 2
    return time(middle // 60, middle % 60)
