"""The pure EDD estimator: cold start, learned statistics, windows, sources, revisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from parcelstream.domain.estimate import (
    ESTIMATE_CHANGED,
    Estimate,
    changed_event,
    estimate,
    revise,
)
from parcelstream.domain.estimate_stats import EtaStats, StatsBuilder, shift_anchor
from parcelstream.domain.packages import Address, Package
from parcelstream.domain.promise import promise, service_days
from parcelstream.domain.proof import DeliveryWindow
from parcelstream.domain.scans import Location, Scan, ScanCode
from parcelstream.domain.status import derive_status

NEW_YORK = ZoneInfo("America/New_York")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
ATLANTA = Address(city="Atlanta", region="GA", postal_code="30301", country="US")
SEATTLE = Address(city="Seattle", region="WA", postal_code="98101", country="US")
HUB = Location("Atlanta", "GA", "30336", "US")
STATION = Location("Seattle", "WA", "98108", "US")
_HOUR = 3_600_000_000


def at(day: datetime, hours: float = 0.0) -> int:
    return int((day + timedelta(hours=hours)).timestamp() * 1_000_000)


def local(zone: ZoneInfo, text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=zone)


def package(tn: str, service: str = "GROUND", **extra: object) -> Package:
    fields: dict[str, object] = {
        "tracking_number": tn,
        "registered_at": 0,
        "service_type": service,
        "origin": ATLANTA,
        "destination": SEATTLE,
    }
    fields.update(extra)
    return Package(**fields)  # type: ignore[arg-type]


def scan(
    tn: str, when: int, code: ScanCode, facility: str, place: Location, **extra: object
) -> Scan:
    return Scan(tn, facility, when, 0, code, location=place, **extra)  # type: ignore[arg-type]


def journey(tn: str, picked: datetime, delivered_after_out: float, days: int = 2) -> list[Scan]:
    """Picked up in Atlanta, through the hub, at the Seattle station at 05:00 `days` days later,
    out for delivery at 08:30, delivered `delivered_after_out` hours after that."""
    out = local(LOS_ANGELES, (picked + timedelta(days=days)).strftime("%Y-%m-%dT08:30:00"))
    return [
        scan(tn, at(picked), ScanCode.PICKED_UP, "ATL-PUP", HUB),
        scan(tn, at(picked, 6), ScanCode.DEPARTED_FACILITY, "ATL-HUB", HUB),
        scan(tn, at(out, -3.5), ScanCode.ARRIVED_AT_FACILITY, "SEA-DS", STATION),
        scan(tn, at(out), ScanCode.OUT_FOR_DELIVERY, "SEA-DS", STATION),
        scan(tn, at(out, delivered_after_out), ScanCode.DELIVERED, "SEA-DS", STATION),
    ]


def trained(count: int = 60) -> EtaStats:
    """`count` ground packages picked up on Tuesdays at 14:00 in Atlanta, delivered on Thursday
    (one in five on Friday) in Seattle between 1 and 9 hours after going out for delivery."""
    builder = StatsBuilder()
    first = local(NEW_YORK, "2026-10-06T14:00")  # a Tuesday
    for n in range(count):
        picked = first + timedelta(weeks=n % 3)
        history = journey(f"T{n}", picked, 1 + 8 * n / (count - 1), 3 if n % 5 == 0 else 2)
        assert builder.add(package(f"T{n}"), derive_status(history))
    return builder.build()


def test_cold_start_falls_back_to_the_service_level_promise() -> None:
    picked = local(NEW_YORK, "2026-11-03T10:00")  # a Tuesday
    history = journey("P1", picked, 3)[:1]
    found = estimate(package("P1", "NEXT_DAY_AIR"), derive_status(history), EtaStats(), at(picked))
    assert found is not None
    assert found.source == "service_level"
    assert found.zone == "America/Los_Angeles"
    assert found.date == "2026-11-04"  # one business day
    assert found.earliest <= found.at <= found.latest


def test_promise_counts_business_days_and_the_cut_off() -> None:
    friday_evening = at(local(NEW_YORK, "2026-11-06T18:30"))
    after_cut_off = promise("TWO_DAY", friday_evening, NEW_YORK)
    # ships Monday; two business days later is Wednesday
    assert datetime.fromtimestamp(after_cut_off.at / 1e6, NEW_YORK).date().isoformat() == (
        "2026-11-11"
    )
    sunday = at(local(NEW_YORK, "2026-11-08T11:00"))
    assert promise("NEXT_DAY", sunday, NEW_YORK).latest == at(local(NEW_YORK, "2026-11-10T20:00"))
    assert service_days("Ground") == 5
    assert service_days(None) == 5


def test_learned_remaining_time_by_facility_and_status_gives_a_facility_estimate() -> None:
    stats = trained()
    picked = local(NEW_YORK, "2026-11-03T14:00")
    history = journey("N1", picked, 4)[:3]  # arrived at the Seattle station
    now = history[-1].occurred_at + 60_000_000
    found = estimate(package("N1"), derive_status(history), stats, now)
    assert found is not None
    assert found.source == "facility"
    assert found.date == "2026-11-05"
    assert found.earliest >= now


def test_window_shrinks_after_out_for_delivery_and_holds_the_truth() -> None:
    stats = trained()
    picked = local(NEW_YORK, "2026-11-03T14:00")
    whole = journey("N2", picked, 4)
    widths = []
    for upto in (1, 2, 4):
        history = whole[:upto]
        now = history[-1].occurred_at + 60_000_000
        found = estimate(package("N2"), derive_status(history), stats, now)
        assert found is not None
        assert found.earliest <= whole[-1].occurred_at <= found.latest
        widths.append(found.latest - found.earliest)
    assert widths[2] < widths[0]
    assert widths[2] <= 9 * _HOUR


def test_elapsed_time_moves_the_window_on() -> None:
    stats = trained()
    history = journey("N3", local(NEW_YORK, "2026-11-03T14:00"), 4)[:4]
    out = history[-1].occurred_at
    fresh = estimate(package("N3"), derive_status(history), stats, out)
    late = estimate(package("N3"), derive_status(history), stats, out + 6 * _HOUR)
    assert fresh is not None
    assert late is not None
    assert late.earliest >= out + 6 * _HOUR > fresh.earliest
    assert late.latest - late.earliest < fresh.latest - fresh.earliest


def test_an_unknown_facility_uses_the_lane() -> None:
    stats = trained()
    picked = local(NEW_YORK, "2026-11-03T14:00")
    history = [
        *journey("N4", picked, 4)[:1],
        scan("N4", at(picked, 8), ScanCode.IN_TRANSIT, "NEW-PLACE", HUB),
    ]
    found = estimate(package("N4"), derive_status(history), stats, at(picked, 8))
    assert found is not None
    assert found.source == "lane"


def test_a_carrier_window_on_the_latest_scan_is_the_source() -> None:
    picked = local(NEW_YORK, "2026-11-03T14:00")
    window = DeliveryWindow(at(picked, 40), at(picked, 44))
    history = [scan("C1", at(picked), ScanCode.IN_TRANSIT, "UPS", HUB, carrier_window=window)]
    found = estimate(package("C1"), derive_status(history), trained(), at(picked, 1))
    assert found is not None
    assert (found.source, found.earliest, found.latest) == (
        "carrier",
        window.earliest,
        window.latest,
    )
    # a window already past says nothing: the estimate falls back to what was learned
    later = estimate(package("C1"), derive_status(history), EtaStats(), at(picked, 45))
    assert later is not None
    assert later.source == "service_level"


def test_delivered_and_returned_packages_have_no_estimate() -> None:
    history = journey("D1", local(NEW_YORK, "2026-11-03T14:00"), 4)
    assert (
        estimate(package("D1"), derive_status(history), trained(), history[-1].occurred_at) is None
    )
    back = [
        *history[:4],
        scan(
            "D1",
            history[3].occurred_at + _HOUR,
            ScanCode.EXCEPTION,
            "SEA-DS",
            STATION,
            exception_code="RETURNED_TO_SENDER",
        ),
    ]
    assert estimate(package("D1"), derive_status(back), trained(), history[3].occurred_at) is None


def test_the_estimate_is_given_in_the_destination_time_zone() -> None:
    picked = local(NEW_YORK, "2026-11-03T23:30")  # already Wednesday in UTC, Tuesday in Seattle
    found = estimate(package("Z1", "NEXT_DAY"), derive_status([]), EtaStats(), at(picked))
    assert found is not None
    assert found.zone == "America/Los_Angeles"
    assert found.date == datetime.fromtimestamp(found.at / 1e6, LOS_ANGELES).date().isoformat()


def test_saturday_deliveries_are_learned_per_service() -> None:
    builder = StatsBuilder()
    friday = local(NEW_YORK, "2026-10-09T14:00")
    for n in range(30):
        picked = friday + timedelta(weeks=n % 2)
        history = journey(f"S{n}", picked - timedelta(days=1), 2)  # delivered on Saturday
        builder.add(package(f"S{n}", "EXPRESS_1DAY"), derive_status(history))
        builder.add(
            package(f"G{n}", "GROUND"),
            derive_status(journey(f"G{n}", picked - timedelta(days=3), 2)),
        )
    stats = builder.build()
    assert 5 in stats.calendar("EXPRESS_1DAY")
    assert 5 not in stats.calendar("GROUND")


def test_a_scan_on_a_day_without_deliveries_counts_from_the_next_delivery_day() -> None:
    saturday = datetime(2026, 11, 7).date()
    day, hour = shift_anchor(saturday, 22.5, frozenset(range(5)))
    assert (day.isoformat(), hour) == ("2026-11-09", 0.0)
    assert shift_anchor(saturday, 22.5, frozenset(range(6))) == (saturday, 22.5)


def _estimate(day: str, source: str = "facility") -> Estimate:
    moment = at(datetime.fromisoformat(day).replace(tzinfo=UTC), 12)
    return Estimate(day, moment, moment - _HOUR, moment + _HOUR, 0.9, source, "UTC")


def test_the_original_estimate_is_kept_and_date_changes_are_counted() -> None:
    first, moved = revise(None, _estimate("2026-11-05", "service_level"))
    assert not moved
    assert first.original == first.latest
    same_day, moved = revise(first, _estimate("2026-11-05"))
    assert not moved
    assert same_day.changes == 0
    later, moved = revise(same_day, _estimate("2026-11-06"))
    assert moved
    assert later.original.source == "service_level"
    assert later.latest.date == "2026-11-06"
    assert later.changes == 1


def test_an_estimate_change_is_an_occurrence_numbered_by_change() -> None:
    first, _ = revise(None, _estimate("2026-11-05"))
    second, _ = revise(first, _estimate("2026-11-06"))
    third, _ = revise(second, _estimate("2026-11-07"))
    event = changed_event("1Z1", third, at(datetime(2026, 11, 4, tzinfo=UTC)), STATION)
    assert (event.milestone, event.number, event.detail) == (ESTIMATE_CHANGED, 2, "2026-11-07")
    assert event.location == STATION
