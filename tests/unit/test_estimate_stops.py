"""Estimates out for delivery from the destination postal code's place on its route, and the
window width priced and calibrated on held-out deliveries."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta

import pytest

from parcelstream.domain.estimate import estimate
from parcelstream.domain.estimate_calibration import PRICES, CalibratedBuilder, calibrate
from parcelstream.domain.estimate_neighbours import (
    BESIDE,
    BETWEEN,
    BEYOND,
    NOTHING,
    OWN,
    ROUTE,
    place_share,
)
from parcelstream.domain.estimate_stats import StatsBuilder, delivered_at
from parcelstream.domain.estimate_stops import StopTimes, StopTimesBuilder
from parcelstream.domain.estimate_windows import COVERAGE, shortest
from parcelstream.domain.packages import Address
from parcelstream.domain.scans import Scan, ScanCode
from parcelstream.domain.status import derive_status

from .test_estimate import _HOUR, NEW_YORK, at, journey, local, package


def seattle(postal_code: str) -> Address:
    return Address(city="Seattle", region="WA", postal_code=postal_code, country="US")


def test_a_codes_window_sits_around_its_mean_and_widens_when_it_was_seen_less() -> None:
    rng = random.Random(3)
    builder = StopTimesBuilder()
    for n in range(200):
        for code, center in (("A", 2.0), ("B", 6.0)):
            for day in range(2 if n % 2 else 4):
                builder.add(
                    (None, f"{code}{n}"),
                    100 + day,
                    center + rng.uniform(-0.5, 0.5),
                    delivered=True,
                )
    stops = builder.build()
    seen_often = stops.window((None, "B0"))  # four deliveries
    seen_twice = stops.window((None, "B1"))
    assert seen_often is not None
    assert seen_twice is not None
    low, _mean, high, _held = seen_often
    assert low < 6.0 < high
    assert 0.5 < high - low < 2.0
    assert seen_twice[2] - seen_twice[0] > high - low
    assert stops.window((None, "unknown")) is None


def test_a_same_day_neighbour_does_not_make_the_spread_look_smaller() -> None:
    rng = random.Random(5)
    builder = StopTimesBuilder()
    for n in range(100):
        for day in range(4):
            shared = rng.uniform(-1.5, 1.5)  # the van's day, alike for both packages
            for _ in range(2):
                builder.add((None, f"C{n}"), day, 5.0 + shared, delivered=True)
    low, _, high, _ = builder.build().window((None, "C0")) or (0.0, 0.0, 0.0, 0.0)
    assert high - low > 2.0


def _stop_history(tn: str, day: int, hours_after_out: float) -> list:  # type: ignore[type-arg]
    picked = local(NEW_YORK, "2026-10-06T14:00") + timedelta(days=day)
    return journey(tn, picked, hours_after_out)


def test_out_for_delivery_the_route_source_knows_when_the_van_reaches_the_code() -> None:
    builder = StatsBuilder()
    rng = random.Random(9)
    # 20 codes early on their route, 20 late, each delivered to on four days
    for n in range(160):
        code = n % 40
        hours = (1.5 if code < 20 else 7.0) + rng.uniform(-0.5, 0.5)
        history = _stop_history(f"R{n}", n // 40, hours)
        builder.add(package(f"R{n}", destination=seattle(f"981{code:02d}")), derive_status(history))
    stats = builder.build()
    for address, hours in ((seattle("98103"), 1.6), (seattle("98133"), 7.2)):
        whole = _stop_history("N1", 28, hours)
        history = whole[:4]  # out for delivery
        found = estimate(
            package("N1", destination=address),
            derive_status(history),
            stats,
            history[-1].occurred_at,
        )
        assert found is not None
        assert found.source == "route"
        assert found.earliest <= whole[-1].occurred_at <= found.latest
        assert found.latest - found.earliest < 3 * _HOUR
    # a code never delivered to before: the station's whole day
    other = seattle("98199")
    history = _stop_history("N2", 28, 3.0)[:4]
    found = estimate(
        package("N2", destination=other), derive_status(history), stats, history[-1].occurred_at
    )
    assert found is not None
    assert found.source != "route"
    assert found.latest - found.earliest > 4 * _HOUR


def test_a_priced_window_gives_up_a_second_day_only_for_enough_more_deliveries() -> None:
    day = 24 * _HOUR
    # 88 % on the first day, the rest on the next
    instants = sorted(
        [day + n * _HOUR // 10 for n in range(88)] + [2 * day + n * _HOUR for n in range(12)]
    )
    cheap = shortest(instants, price=50.0)
    dear = shortest(instants, price=1000.0)
    fixed = shortest(instants)
    assert cheap is not None
    assert dear is not None
    assert fixed is not None
    assert cheap[2] - cheap[0] < 12 * _HOUR
    assert cheap[3] < 0.9
    assert dear[2] - dear[0] > day
    assert dear[3] > 0.93
    assert fixed[3] >= COVERAGE


def test_calibration_picks_the_cheapest_price_that_holds_the_target_on_held_out_packages() -> None:
    builder = StatsBuilder()
    held = []
    first = local(NEW_YORK, "2026-10-06T14:00")
    for n in range(300):
        days = 3 if n % 5 == 0 else 2  # one in five a day later
        history = journey(f"H{n}", first + timedelta(weeks=n % 3), 1 + 8 * (n % 40) / 39, days)
        state = derive_status(history)
        if n % 4 == 0:
            delivered = delivered_at(state)
            assert delivered is not None
            held.append((package(f"H{n}"), state, delivered))
        else:
            builder.add(package(f"H{n}"), state)
    prices = calibrate(builder.build(), held)
    assert set(prices) == {"out_for_delivery", "on_the_way", "on_the_way/network"}
    assert set(prices.values()) <= set(PRICES)
    # the cheapest would leave the day-later fifth outside
    assert prices["on_the_way"] > PRICES[0]


def test_a_calibrated_builder_sets_a_price_once_it_has_enough_held_out() -> None:
    builder = CalibratedBuilder()
    first = local(NEW_YORK, "2026-10-06T14:00")
    for n in range(400):
        history = journey(f"K{n}", first + timedelta(weeks=n % 3), 1 + 8 * (n % 40) / 39)
        assert builder.add(package(f"K{n}"), derive_status(history))
    stats = builder.build()
    assert set(stats.prices.values()) <= set(PRICES)
    assert stats.prices
    assert stats.deliveries == 400
    assert at(first) > 0


def _drive(
    rng: random.Random, builder: StopTimesBuilder, driver: int, day: int, stops: list[int]
) -> None:
    """One van run of `driver` on `day` to the given places on its route (0-9): its codes are
    `2<driver><place>` in postal order, reached 0.8 h apart, stretched by the day's load."""
    length = rng.uniform(0.85, 1.15)
    for place in stops:
        hours = 0.5 + length * 0.8 * place + rng.uniform(-0.3, 0.3)
        builder.add(
            ("GROUND", _code(driver, place)), day, hours, delivered=True, route=f"D{driver}"
        )


def _code(driver: int, place: int) -> str:
    return f"US-2{driver:03d}{place}"


def _sparse_week(seed: int = 11) -> StopTimes:
    """80 routes, six days, three random codes a day each; the code in place 5 never."""
    rng = random.Random(seed)
    builder = StopTimesBuilder()
    for driver in range(80):
        for day in range(100, 106):
            _drive(rng, builder, driver, day, rng.sample([0, 1, 2, 3, 4, 6, 7, 8, 9], 3))
    return builder.build()


def test_a_code_never_seen_is_placed_between_the_seen_codes_of_its_route() -> None:
    stops = _sparse_week()
    rng = random.Random(2)
    inside = total = 0
    for driver in range(80):
        key = ("GROUND", _code(driver, 5))
        window = stops.window(key, f"D{driver}")
        assert window is not None
        low, mean, high, held = window
        placed = stops.places.place("GROUND", f"D{driver}", key[1])
        assert placed is not None
        # about 4.5 h after the van left (place 5 of 0-9); interpolated where both sides were seen
        assert 3.0 < mean < 6.0
        assert high - low < 3.5
        assert held >= 0.9
        # next week's deliveries to it
        for _ in range(20):
            hours = 0.5 + rng.uniform(0.85, 1.15) * 4.0 + rng.uniform(-0.3, 0.3)
            inside += low <= hours <= high
            total += 1
        # without the driver, a code never seen has no window of its own
        assert stops.window(key) is None
    assert inside / total >= 0.88


def test_a_code_seen_often_follows_its_own_deliveries_over_its_neighbours() -> None:
    rng = random.Random(4)
    builder = StopTimesBuilder()
    for driver in range(80):
        for day in range(100, 106):
            _drive(rng, builder, driver, day, rng.sample([0, 1, 2, 3, 4, 6, 7, 8, 9], 3))
    # place 5 of route 0 is in fact reached late every day (a detour): 8 h after leaving
    for day in range(100, 106):
        builder.add(("GROUND", _code(0, 5)), day, 8.0, delivered=True, route="D0")
    stops = builder.build()
    window = stops.window(("GROUND", _code(0, 5)), "D0")
    assert window is not None
    low, mean, high, _ = window
    assert mean > 7.0
    assert low <= 8.0 <= high


def test_a_placing_from_one_side_only_gets_a_wider_learned_window_than_one_between() -> None:
    spreads = _sparse_week().placed_spreads
    between = spreads[("GROUND", BETWEEN)]
    beyond = spreads[("GROUND", BEYOND)]
    assert between[1] - between[0] < beyond[1] - beyond[0]


def test_placing_between_beyond_and_beside_the_seen_codes() -> None:
    def days(*shares: float) -> tuple[tuple[int, float], ...]:
        return tuple((100 + n, share) for n, share in enumerate(shares))

    route = {"US-98101": days(0.1), "US-98105": days(0.5)}
    assert place_share(route, "US-98103", NOTHING, 0.1) == pytest.approx((0.3, BETWEEN))
    # past the last seen code: on the way the route runs, whichever that is
    rising = {"US-98101": days(0.1), "US-98103": days(0.3)}
    assert place_share(rising, "US-98105", NOTHING, 0.1) == pytest.approx((0.5, BEYOND))
    falling = {"US-98101": days(0.7), "US-98103": days(0.5)}
    assert place_share(falling, "US-98105", NOTHING, 0.1) == pytest.approx((0.3, BEYOND))
    # one seen code: halfway between either way, kept to the day out
    alone = {"US-98103": days(0.3)}
    assert place_share(alone, "US-98104", NOTHING, 0.1) == pytest.approx((0.3, BESIDE))
    first = {"US-98101": days(0.0)}
    assert place_share(first, "US-98103", NOTHING, 0.1) == pytest.approx((0.1, BESIDE))
    # its own days weigh more than the neighbours' placing, each as much as one day
    seen = {**route, "US-98103": tuple((110 + n, 0.8) for n in range(5))}
    assert place_share(seen, "US-98103", NOTHING, 0.1) == pytest.approx(((5 * 0.8 + 0.3) / 6, OWN))
    # leaving its days out, it is placed from the neighbours again
    assert place_share(seen, "US-98103", range(110, 115), 0.1) == pytest.approx((0.3, BETWEEN))
    # no seen code near it (or a code with letters): the route's whole day
    far = {"US-98101": days(0.2), "US-98199": days(0.6)}
    assert place_share(far, "US-98150", NOTHING, 0.1) == pytest.approx((0.4, ROUTE))
    assert place_share(route, "GB-SW1A1AA", NOTHING, 0.1) == pytest.approx((0.3, ROUTE))
    assert place_share({}, "US-98103", NOTHING, 0.1) is None


def _driven(tn: str, day: int, hours_after_out: float, driver: str | None) -> list[Scan]:
    """A journey whose OUT_FOR_DELIVERY and DELIVERED scans name the driver (or none)."""
    history = _stop_history(tn, day, hours_after_out)
    return [
        replace(s, employee_id=driver)
        if s.status_code in (ScanCode.OUT_FOR_DELIVERY, ScanCode.DELIVERED)
        else s
        for s in history
    ]


def test_out_for_delivery_a_code_never_seen_gets_a_route_window_from_its_drivers_route() -> None:
    rng = random.Random(9)
    builder = StatsBuilder()
    # a week of 30 Seattle routes, each over its own 40 codes in postal order, 0.2 h apart;
    # most codes delivered to once or never
    for day in range(5):
        for driver in range(10, 40):
            length = rng.uniform(0.85, 1.15)
            for place in rng.sample(range(40), 6):
                tn = f"R{day}-{driver}-{place}"
                hours = 0.5 + length * 0.2 * place + rng.uniform(-0.2, 0.2)
                history = _driven(tn, day, hours, f"D{driver}")
                where = seattle(f"9{driver}{place:02d}")
                builder.add(package(tn, destination=where), derive_status(history))
    stats = builder.build()
    inside = total = 0
    for driver in range(10, 40):
        # a code of the route never delivered to, with seen codes on both sides
        codes = stats.stops.places.routes[f"D{driver}"]
        seen = sorted(int(code[-2:]) for code in codes)
        place = next(p for p in range(seen[0] + 1, seen[-1]) if p not in seen)
        hours = 0.5 + rng.uniform(0.85, 1.15) * 0.2 * place + rng.uniform(-0.2, 0.2)
        widths = {}
        for named in (f"D{driver}", None):
            whole = _driven("N1", 7, hours, named)
            history = whole[:4]  # out for delivery
            found = estimate(
                package("N1", destination=seattle(f"9{driver}{place:02d}")),
                derive_status(history),
                stats,
                history[-1].occurred_at,
            )
            assert found is not None
            # a partner carrier's scan names no driver: the code was never seen, as before
            assert (found.source == "route") == (named is not None)
            widths[named] = found.latest - found.earliest
            if named is not None:
                inside += found.earliest <= whole[-1].occurred_at <= found.latest
                total += 1
        assert widths[f"D{driver}"] < 3 * _HOUR < widths[None]
    assert inside / total >= 0.85
