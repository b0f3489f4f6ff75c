"""On a clean network, every journey keeps the carrier's rules: schedules and cut-offs, no
linehaul on Sundays, delivery days per service, and the service levels."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from parcelstream.sim.schedule import (
    AIR_HUB_WAVES,
    CUTOFF_HOURS,
    DELIVERY_WEEKDAYS,
    HUB_WAVES,
    LOCAL_DEPARTURES,
    SORT_DEPARTURES,
    business_days_between,
)

from .scenarios import happened, scenario, zone_of

LOADING = timedelta(minutes=25)
"""A departure scan is taken while loading, up to this long before the truck leaves."""


def _local(moment: datetime, facility_id: str) -> datetime:
    return moment.astimezone(zone_of(facility_id))


def _next_departure(scanned: datetime, hours: tuple[float, ...]) -> datetime | None:
    """The scheduled departure (local) the loading scan at `scanned` belongs to, if any."""
    for day in (scanned.date(), scanned.date() + timedelta(days=1)):
        for hour in hours:
            departs = datetime.combine(day, datetime.min.time(), scanned.tzinfo) + timedelta(
                hours=hour
            )
            if scanned <= departs <= scanned + LOADING:
                return departs
    return None


def test_no_truck_or_flight_leaves_on_a_sunday() -> None:
    departures = [x for x in scenario().scans if x.body["status_code"] == "DEPARTED_FACILITY"]
    assert departures
    for scan in departures:
        assert _local(happened(scan), scan.body["facility_id"]).weekday() != 6, scan.body


def test_trucks_leave_on_schedule_with_packages_sorted_before_the_cutoff() -> None:
    checked = Counter[str]()
    for number, journey in scenario().journeys().items():
        ready: datetime | None = None
        for index, scan in enumerate(journey):
            body = scan.body
            facility, code = body["facility_id"], body["status_code"]
            moment = _local(happened(scan), facility)
            if code in ("ARRIVED_AT_FACILITY", "PROCESSED_AT_FACILITY"):
                ready = moment
            if code != "DEPARTED_FACILITY":
                continue
            bound_for = journey[index + 1].body["facility_id"] if index + 1 < len(journey) else ""
            if "-SORT-" in facility and "-AIR-" in bound_for:
                continue  # an evening flight: its time depends on the city's distance to the air hub
            if "-SORT-" in facility:
                hours = LOCAL_DEPARTURES if "-DS-" in bound_for else SORT_DEPARTURES
            else:
                hours = HUB_WAVES if "-HUB-" in facility else AIR_HUB_WAVES
            departs = _next_departure(moment, hours)
            assert departs is not None, (number, body)
            assert ready is not None
            if "-SORT-" in facility:
                assert ready <= departs - timedelta(hours=CUTOFF_HOURS), (number, body)
            checked[facility.split("-")[1]] += 1
    assert checked["SORT"] > 1000
    assert checked["HUB"] > 1000
    assert checked["AIR"] > 100


def test_each_service_delivers_only_on_its_days_and_in_daytime() -> None:
    s = scenario()
    services = {p.body["tracking_number"]: p.body["service_type"] for p in s.packages}
    delivered = [x for x in s.scans if x.body["status_code"] == "DELIVERED"]
    assert len(delivered) > 2000
    saturdays = 0
    for scan in delivered:
        moment = _local(happened(scan), scan.body["facility_id"])
        service = services[scan.body["tracking_number"]]
        assert moment.weekday() in DELIVERY_WEEKDAYS[service], (service, moment)
        assert 8 <= moment.hour < 20
        saturdays += moment.weekday() == 5
    assert saturdays > 0  # next-day air does deliver on Saturdays


def test_clean_network_keeps_its_service_levels() -> None:
    s = scenario()
    late = Counter[str]()
    done = Counter[str]()
    for truth in s.truths:
        if truth.outcome != "delivered":
            continue
        assert truth.delivered_at is not None
        zone = ZoneInfo(truth.destination_zone)
        days = business_days_between(
            truth.shipped_at.astimezone(zone).date(), truth.delivered_at.astimezone(zone).date()
        )
        bound = {"GROUND": 5, "EXPRESS_2DAY": 2, "EXPRESS_1DAY": 1}[truth.service_level]
        assert days <= bound + 1, truth
        done[truth.service_level] += 1
        late[truth.service_level] += truth.delivered_at > truth.promised_by
    for service, count in done.items():
        assert count > 200
        assert late[service] / count < 0.1, (service, late[service], count)


def test_ground_transit_grows_with_distance() -> None:
    s = scenario()
    days: dict[tuple[str, str], list[float]] = {}
    for truth in s.truths:
        if truth.outcome == "delivered" and truth.service_level == "GROUND":
            assert truth.delivered_at is not None
            hours = (truth.delivered_at - truth.shipped_at).total_seconds() / 3600
            days.setdefault((truth.origin_region, truth.destination_region), []).append(hours)

    def mean(lane: tuple[str, str]) -> float:
        return sum(days[lane]) / len(days[lane])

    assert mean(("CA", "CA")) < mean(("CA", "TX")) < mean(("CA", "NY"))


def test_a_failed_attempt_is_retried_the_next_business_day() -> None:
    s = scenario("trips")
    retried = returned = 0
    for journey in s.journeys().values():
        codes = [x.body["status_code"] for x in journey]
        for index, code in enumerate(codes):
            if code != "DELIVERY_ATTEMPTED" or index + 1 == len(codes):
                continue
            attempt, following = journey[index], journey[index + 1]
            if following.body.get("exception_code") == "RETURNED_TO_SENDER":
                assert codes[: index + 1].count("DELIVERY_ATTEMPTED") == 3
                returned += 1
                continue
            if following.body.get("exception_code") == "WEATHER_DELAY":
                continue  # the storm decides when the next attempt goes
            assert following.body["status_code"] == "OUT_FOR_DELIVERY"
            first = _local(happened(attempt), attempt.body["facility_id"]).date()
            second = _local(happened(following), following.body["facility_id"]).date()
            assert business_days_between(first, second) == 1
            assert second.weekday() < 5
            retried += 1
    assert retried > 100
    assert returned > 0


def test_weather_stops_departures_and_deliveries_in_its_region_that_day() -> None:
    s = scenario("trips")
    weather = set(s.weather_days)
    assert weather
    notices = 0
    for scan in s.scans:
        body = scan.body
        region = body["location"]["region"]
        day = _local(happened(scan), body["facility_id"]).date()
        if body["status_code"] in ("DEPARTED_FACILITY", "OUT_FOR_DELIVERY", "DELIVERED"):
            assert (region, day) not in weather, body
        if body.get("exception_code") == "WEATHER_DELAY":
            notices += 1
    assert notices > 50
