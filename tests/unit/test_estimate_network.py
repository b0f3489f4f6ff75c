"""Estimates chained through the learned network: hops learned from every package through a
facility, whatever its lane, decide the delivery day of a lane never seen whole."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from parcelstream.domain.estimate import estimate
from parcelstream.domain.estimate_network import (
    ANY_DAY,
    DELIVER,
    SUNDAY,
    WEEKDAY,
    NetworkBuilder,
    day_kind,
    local_tod,
)
from parcelstream.domain.estimate_stats import EtaStats, StatsBuilder
from parcelstream.domain.packages import Address, Package
from parcelstream.domain.scans import Location, Scan, ScanCode
from parcelstream.domain.status import derive_status

from .test_estimate import NEW_YORK, at, local

EST = -300  # New York in November, minutes east of UTC
PLACES = {
    "O1": (Address(city="New York", region="NY", postal_code="10001", country="US"), "100"),
    "O2": (Address(city="Pittsburgh", region="PA", postal_code="15201", country="US"), "152"),
    "D1": (Address(city="Boston", region="MA", postal_code="02108", country="US"), "021"),
    "D2": (Address(city="Philadelphia", region="PA", postal_code="19103", country="US"), "191"),
}
HUB = Location("Harrisburg", "PA", "17111", "US")


def place(code: str) -> Location:
    address, zip3 = PLACES[code]
    return Location(address.city, address.region, f"{zip3}60", "US")


def parcel(tn: str, origin: str, destination: str, service: str = "GROUND") -> Package:
    return Package(
        tracking_number=tn,
        registered_at=0,
        service_type=service,
        origin=PLACES[origin][0],
        destination=PLACES[destination][0],
    )


def trip(
    tn: str, origin: str, destination: str, picked: datetime, early: bool, rng: random.Random
) -> list[Scan]:
    """Picked up at 14:00, the sort centre's truck at 23:00 reaches the hub by 02:00 (`early`)
    or 06:00; the hub's waves leave at 03:00 and 09:00 and take 2 h to the station, whose
    cut-off for going out that morning is 07:30."""

    def s(hours: float, code: ScanCode, facility: str, where: Location) -> Scan:
        return Scan(tn, facility, at(picked, hours), EST, code, location=where)

    hub_in = 12 + (2.0 if early else 6.0) + rng.uniform(-0.3, 0.3)
    leaves = 13.0 if early else 19.0
    station_in = leaves + 2 + rng.uniform(0, 0.5)
    out = (18.5 if early else 42.5) + rng.uniform(0, 0.3)
    station = f"{destination}-DS"
    return [
        s(0, ScanCode.PICKED_UP, f"{origin}-PUP", place(origin)),
        s(4 + rng.uniform(0, 1), ScanCode.ARRIVED_AT_FACILITY, f"{origin}-SORT", place(origin)),
        s(9, ScanCode.DEPARTED_FACILITY, f"{origin}-SORT", place(origin)),
        s(hub_in, ScanCode.ARRIVED_AT_FACILITY, "H-HUB", HUB),
        s(leaves - 0.2, ScanCode.DEPARTED_FACILITY, "H-HUB", HUB),
        s(station_in, ScanCode.ARRIVED_AT_FACILITY, station, place(destination)),
        s(out, ScanCode.OUT_FOR_DELIVERY, station, place(destination)),
        s(out + rng.uniform(1, 6), ScanCode.DELIVERED, station, place(destination)),
    ]


def trained() -> EtaStats:
    """Packages on two lanes only, New York to Boston and Pittsburgh to Philadelphia, all
    through one hub, on weekdays over three weeks; half reach the hub early."""
    rng = random.Random(5)
    builder = StatsBuilder()
    first = local(NEW_YORK, "2026-10-05T14:00")  # a Monday
    for n in range(120):
        origin, destination = ("O1", "D1") if n % 2 else ("O2", "D2")
        picked = first + timedelta(days=7 * (n % 3) + n % 4)
        history = trip(f"T{n}", origin, destination, picked, n % 4 < 2, rng)
        assert builder.add(parcel(f"T{n}", origin, destination), derive_status(history))
    return builder.build()


STATS = trained()
TUESDAY = local(NEW_YORK, "2026-11-03T14:00")


def at_hub(early: bool, **changes: object) -> tuple[Package, list[Scan], int]:
    """A New York to Philadelphia package (a lane never seen) just arrived at the hub."""
    history = trip("N1", "O1", "D2", TUESDAY, early, random.Random(1))[:4]
    if changes:
        last = history[-1]
        history[-1] = Scan(**{**{f: getattr(last, f) for f in last.__slots__}, **changes})  # type: ignore[arg-type]
    return parcel("N1", "O1", "D2"), history, history[-1].occurred_at + 60_000_000


def test_a_lane_never_seen_whole_is_chained_through_the_hub_onto_the_right_day() -> None:
    for early, day in ((True, "2026-11-04"), (False, "2026-11-05")):
        package, history, now = at_hub(early)
        found = estimate(package, derive_status(history), STATS, now)
        assert found is not None
        assert found.source == "network"
        assert found.date == day
        # One morning's deliveries, not the hours of two days.
        assert found.latest - found.earliest < 9 * 3_600_000_000
        assert local(NEW_YORK, f"{day}T09:00").timestamp() * 1e6 <= found.latest


def test_without_the_network_the_same_package_gets_no_such_window() -> None:
    package, history, now = at_hub(True)
    without = estimate(package, derive_status(history), EtaStats(remaining=STATS.remaining), now)
    assert without is not None
    assert without.source != "network"


def test_the_same_history_always_gives_the_same_estimate() -> None:
    package, history, now = at_hub(False)
    first = estimate(package, derive_status(history), STATS, now)
    again = estimate(package, derive_status(history), trained(), now)
    assert first == again


def test_a_hold_at_the_hub_is_not_chained_as_an_ordinary_arrival() -> None:
    package, history, now = at_hub(
        True, status_code=ScanCode.EXCEPTION, exception_code="WEATHER_DELAY"
    )
    found = estimate(package, derive_status(history), STATS, now)
    assert found is not None
    assert found.source != "network"


def test_at_the_station_the_stations_own_statistics_answer() -> None:
    history = trip("N2", "O2", "D2", TUESDAY, True, random.Random(2))[:6]
    found = estimate(
        parcel("N2", "O2", "D2"), derive_status(history), STATS, history[-1].occurred_at
    )
    assert found is not None
    assert found.source == "facility"


def test_next_day_air_keeps_to_its_own_way_towards_a_destination_it_never_flew_to() -> None:
    builder = NetworkBuilder(random.Random(0))
    start = at(TUESDAY)

    def visit(facility: str, hours: float) -> Scan:
        return Scan(
            "X", facility, start + int(hours * 3_600_000_000), EST, ScanCode.ARRIVED_AT_FACILITY
        )

    def out(facility: str, hours: float) -> Scan:
        return Scan(
            "X", facility, start + int(hours * 3_600_000_000), EST, ScanCode.OUT_FOR_DELIVERY
        )

    for _ in range(5):
        # Ground from the sort centre goes to the hub, next-day air to the air hub, and
        # ground is the sort centre's most common way out.
        for destination in ("D1", "D2"):
            for __ in range(3):
                ground = [
                    visit("O1-SORT", 0),
                    visit("H-HUB", 5),
                    visit(f"{destination}-DS", 9),
                    out(f"{destination}-DS", 10),
                ]
                builder.add(ground, start + 11 * 3_600_000_000, ("US-X", destination, "GROUND"))
        air = [visit("O1-SORT", 0), visit("AIR", 5), visit("D1-DS", 9), out("D1-DS", 10)]
        builder.add(air, start + 11 * 3_600_000_000, ("US-MA", "D1", "EXPRESS_1DAY"))
    network = builder.build()
    rng = random.Random(0)
    # Never flown to D2: still the air hub from the sort centre, as next-day air always went.
    assert network.next_facility("O1-SORT", ("US-PA", "D2", "EXPRESS_1DAY"), rng) == "AIR"
    assert network.next_facility("O1-SORT", ("US-PA", "D2", "GROUND"), rng) == "H-HUB"
    assert network.next_facility("D2-DS", ("US-PA", "D2", "GROUND"), rng) == DELIVER


def test_a_trips_time_is_drawn_from_every_trip_whenever_it_left() -> None:
    builder = NetworkBuilder(random.Random(0))
    start = at(TUESDAY)
    for n in range(30):
        leaves = start + n * 3_600_000_000  # one departure an hour, round the clock
        history = [
            Scan("T", "A", leaves, EST, ScanCode.DEPARTED_FACILITY),
            Scan("T", "B", leaves + (2 + n % 3) * 3_600_000_000, EST, ScanCode.ARRIVED_AT_FACILITY),
            Scan("T", "B", leaves + 5 * 3_600_000_000, EST, ScanCode.OUT_FOR_DELIVERY),
        ]
        builder.add(history, leaves + 6 * 3_600_000_000, (None, None, None))
    trips = builder.build().hops[("A", "B", "DEPARTED_FACILITY", None, ANY_DAY)]
    assert not trips.timed
    rng = random.Random(0)
    assert {trips.draw(local_tod(start, EST), rng) for _ in range(200)} == {2.0, 3.0, 4.0}


def test_day_kinds_and_times_of_day_are_the_scanners_local_ones() -> None:
    sunday_late = at(local(NEW_YORK, "2026-11-08T23:30"))
    assert day_kind(sunday_late, EST) == SUNDAY
    assert day_kind(sunday_late, 0) == WEEKDAY  # already Monday in UTC
    assert local_tod(sunday_late, EST) == 23.5
