"""Planned delivery routes: each delivery station splits its postal codes among fixed routes, and
each route visits its postal codes in the same order every day, so a neighbourhood is delivered
at about the same time of day, day after day. Fixed for the network (drawn from the station's
name, not the scenario's seed); only each route-day's load and traffic depend on the seed."""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cache

from parcelstream.sim.network import DELIVERY_ROUTES_PER_STATION, Metro

POSTAL_SUFFIXES = tuple(f"{n:02d}" for n in range(1, 99))
"""The last two digits of the 5-digit postal codes a metro's recipients live in."""
POPULATION_SIGMA = 0.8
"""Spread (log-normal) of how many parcels each postal code receives: dense neighbourhoods
and business districts get several times what a suburban code does."""
ROUTE_HOURS = 7.5
"""A typical day's time from a route's first stop to its last."""
EXPRESS_ROUTE_HOURS = 2.0
"""Next-day air rides an early run over the same neighbourhoods, done by late morning."""


@dataclass(frozen=True, slots=True)
class Stop:
    """Where a postal code sits on its station's routes."""

    route: int
    """1 to DELIVERY_ROUTES_PER_STATION."""
    start: float
    width: float
    """The share of the route's day, from its first stop, during which this code's stops come."""
    volume: float
    """How many parcels the code receives, relative to the metro's other codes."""


@cache
def stops(metro_code: str) -> dict[str, Stop]:
    """Every postal code of a metro, by its last two digits: which route serves it and when in
    that route's day. Neighbouring codes share a route, in a planned order; a code takes a share
    of its route's day in proportion to the parcels it receives."""
    plan = random.Random(f"routes|{metro_code}")
    volumes = {s: plan.lognormvariate(0.0, POPULATION_SIGMA) for s in POSTAL_SUFFIXES}
    suffixes = list(POSTAL_SUFFIXES)
    # Routes cover runs of neighbouring codes, each starting somewhere on the ring of codes.
    offset = plan.randrange(len(suffixes))
    suffixes = suffixes[offset:] + suffixes[:offset]
    found: dict[str, Stop] = {}
    per_route = len(suffixes) / DELIVERY_ROUTES_PER_STATION
    for route in range(DELIVERY_ROUTES_PER_STATION):
        run = suffixes[round(route * per_route) : round((route + 1) * per_route)]
        if plan.random() < 0.5:  # half the routes drive their run the other way round
            run.reverse()
        total = sum(volumes[s] for s in run)
        start = 0.0
        for suffix in run:
            share = volumes[suffix] / total
            found[suffix] = Stop(route + 1, start, share, volumes[suffix])
            start += share
    return found


def postal_code(rng: random.Random, metro: Metro) -> str:
    """A recipient's postal code in `metro`, drawn by how many parcels each code receives."""
    plan = stops(metro.code)
    return metro.zip3 + rng.choices(POSTAL_SUFFIXES, _volumes(metro.code))[0] if plan else ""


@cache
def _volumes(metro_code: str) -> tuple[float, ...]:
    plan = stops(metro_code)
    return tuple(plan[s].volume for s in POSTAL_SUFFIXES)


def stop_of(metro: Metro, postal_code: str) -> Stop:
    """The stop of an address in `metro` (a code outside the plan: late on the last route)."""
    found = stops(metro.code).get(postal_code[-2:])
    return found if found is not None else Stop(DELIVERY_ROUTES_PER_STATION, 0.9, 0.1, 1.0)
