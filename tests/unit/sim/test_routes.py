"""Planned delivery routes: a postal code is served by one route at a stable point in its day,
so its deliveries come at about the same time after the van leaves, day after day."""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import datetime

from parcelstream.sim.network import DELIVERY_ROUTES_PER_STATION, network
from parcelstream.sim.routes import POSTAL_SUFFIXES, stops

from .scenarios import scenario


def test_every_postal_code_has_one_route_and_the_routes_share_the_day() -> None:
    for metro in network().metros:
        plan = stops(metro.code)
        assert set(plan) == set(POSTAL_SUFFIXES)
        assert {s.route for s in plan.values()} == set(range(1, DELIVERY_ROUTES_PER_STATION + 1))
        for route in range(1, DELIVERY_ROUTES_PER_STATION + 1):
            bands = sorted((s.start, s.width) for s in plan.values() if s.route == route)
            assert abs(sum(w for _, w in bands) - 1.0) < 1e-9
            assert bands[0][0] == 0.0


def test_a_postal_codes_deliveries_come_at_about_the_same_time_after_the_van_leaves() -> None:
    out_at: dict[str, datetime] = {}
    by_code: dict[str, list[float]] = defaultdict(list)
    drivers: dict[str, set[str]] = defaultdict(set)
    spans: list[float] = []
    for journey in scenario("clean").journeys().values():
        for sim in journey:
            body = sim.body
            when = datetime.fromisoformat(body["timestamp"])
            if body["status_code"] == "OUT_FOR_DELIVERY":
                out_at[body["tracking_number"]] = when
            elif body["status_code"] == "DELIVERED" and body["tracking_number"] in out_at:
                hours = (when - out_at[body["tracking_number"]]).total_seconds() / 3600
                code = body["location"]["postal_code"]
                if body["tracking_number"][8:10] != "01":  # next-day air rides its own run
                    by_code[code].append(hours)
                    spans.append(hours)
                drivers[code].add(body["employee_id"])
    spreads = [statistics.pstdev(h) for h in by_code.values() if len(h) >= 4]
    assert len(spreads) > 30
    # Over the whole station the day spreads over eight hours; one code keeps within about one.
    assert statistics.pstdev(spans) > 2.0
    assert statistics.median(spreads) < 0.8
    # One postal code, one route (driver), every day.
    assert all(len(found) == 1 for found in drivers.values())


def test_the_route_plan_is_fixed_and_the_scenario_deterministic() -> None:
    assert stops("NYC") == stops("NYC")
    assert stops("NYC") != stops("LAX")
    again = scenario.__wrapped__("clean", 11)
    first = scenario("clean", 11)
    assert [e.body for e in again.scans] == [e.body for e in first.scans]
