"""Estimates out for delivery from the destination postal code's place on its route, and the
window width priced and calibrated on held-out deliveries."""

from __future__ import annotations

import random
from datetime import timedelta

from parcelstream.domain.estimate import estimate
from parcelstream.domain.estimate_calibration import PRICES, CalibratedBuilder, calibrate
from parcelstream.domain.estimate_stats import StatsBuilder, delivered_at
from parcelstream.domain.estimate_stops import StopTimesBuilder
from parcelstream.domain.estimate_windows import COVERAGE, shortest
from parcelstream.domain.packages import Address
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
    assert set(prices) == {"out_for_delivery", "on_the_way"}
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
