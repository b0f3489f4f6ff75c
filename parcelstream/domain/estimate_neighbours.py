"""Where on its van's route a postal code is reached, told by the codes beside it. A driver
visits the codes of a route in the same planned order every day, and neighbouring codes are
next to each other in that order: a code never delivered to is reached about when the codes on
either side of it (in postal-code order) are, and a code seen once is placed better with its
neighbours' help. The route is known by the driver's id on the OUT_FOR_DELIVERY scan (a
statistics key only, never shown). A driver carries each service on the same order, some on a
quicker run: times are compared as a share of the service's day out, so every service the
driver carries places the codes for all of them."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

NEIGHBOURS = 10
"""Postal codes at most this far apart (as numbers) may be neighbours on a route: further
apart, they are seldom on one route, or are its two ends."""
NEIGHBOUR_WEIGHT = 1.0
"""What the neighbours' placing counts for next to a code's own deliveries, in days of them:
their placing is good, the code's own days are noisy (where in the code, how long the day)."""
MIN_SCALE = 20
"""Fewer same-day deliveries of a service than this, and its runs are not placed."""
SAME_DAY = 12.0
"""Hours after the van left within which a delivery was on that run, not a later day's."""
_EDGE = 0.02
"""A service's day out is taken from this quantile of its delivery times to the opposite one."""

OWN = "own"
"""The code's own earlier deliveries (with the neighbours' help when they bracket it or show
the route's direction)."""
BETWEEN = "between"
"""Never seen; interpolated between the nearest seen codes below and above it."""
BEYOND = "beyond"
"""Never seen, past the last seen code on one side: carried on the way the route runs there."""
BESIDE = "beside"
"""Never seen, next to the only seen code of its route: which way the route runs is not known,
so either way is as likely (a wide window, learned as such)."""
ROUTE = "route"
"""Never seen, no seen code near it: anywhere in the route's day."""

Days = tuple[tuple[int, float], ...]
"""(day ordinal, mean share of the service's day out) of a code's deliveries, one per day:
packages to one code on one day share the van's day, so a day counts once."""
Placed = tuple[float, str]
"""(hours after the van left, kind of evidence)."""
NOTHING: range = range(0)


@dataclass(frozen=True, slots=True)
class DayOut:
    """A service's day out: when its first and last stops come, in hours after the van left."""

    start: float
    span: float

    def share(self, hours: float) -> float:
        return (hours - self.start) / self.span

    def hours(self, share: float) -> float:
        return self.start + share * self.span


@dataclass(frozen=True, slots=True)
class RoutePlaces:
    """Per driver (route), per postal code, the days it was delivered to and when."""

    routes: Mapping[str, Mapping[str, Days]] = field(default_factory=dict)
    days_out: Mapping[str | None, DayOut] = field(default_factory=dict)
    slope: float = 0.0
    """Share of the day out between postal codes one apart on a route (the typical one)."""

    def place(
        self, service: str | None, route: str, postal: str, skip: range = NOTHING
    ) -> Placed | None:
        """When the van for `service` reaches `postal` on `route`, leaving out the days in
        `skip` (to learn how far off such a placing is); None if the route or the service's
        day out is unknown."""
        day_out = self.days_out.get(service)
        codes = self.routes.get(route)
        if day_out is None or not codes:
            return None
        found = place_share(codes, postal, skip, self.slope)
        if found is None:
            return None
        share, kind = found
        return day_out.hours(share), kind


def place_share(
    codes: Mapping[str, Days], postal: str, skip: range, slope: float
) -> tuple[float, str] | None:
    """(share of the day out, kind) at which a route's van reaches `postal`."""
    own = [share for day, share in codes.get(postal, ()) if day not in skip]
    at = position(postal)
    near = _near(codes, postal, at, skip) if at is not None else []
    guess = _from_neighbours(near, at, slope) if at is not None else None
    if own:
        # A neighbour on one side only, with the direction unknown, says nothing own days don't.
        if guess is None or guess[1] == BESIDE:
            return sum(own) / len(own), OWN
        total = sum(own) + NEIGHBOUR_WEIGHT * guess[0]
        return total / (len(own) + NEIGHBOUR_WEIGHT), OWN
    if guess is not None:
        return guess
    anywhere = [share for days in codes.values() for day, share in days if day not in skip]
    return (sum(anywhere) / len(anywhere), ROUTE) if anywhere else None


def position(postal: str) -> int | None:
    """A code's place in postal order: its digits as a number ("US-98103" -> 98103); None for
    codes with letters, which are never interpolated."""
    digits = postal.rpartition("-")[2]
    return int(digits) if digits.isdigit() else None


def _near(codes: Mapping[str, Days], postal: str, at: int, skip: range) -> list[tuple[int, float]]:
    """(position, mean share) of the route's other seen codes near `at`, in postal order."""
    found = []
    for other, days in codes.items():
        where = position(other)
        if other == postal or where is None or abs(where - at) > NEIGHBOURS:
            continue
        shares = [share for day, share in days if day not in skip]
        if shares:
            found.append((where, sum(shares) / len(shares)))
    return sorted(found)


def _from_neighbours(
    near: Sequence[tuple[int, float]], at: int, slope: float
) -> tuple[float, str] | None:
    below = [n for n in near if n[0] < at]
    above = [n for n in near if n[0] > at]
    if below and above:
        (low, early), (high, late) = below[-1], above[0]
        return early + (late - early) * (at - low) / (high - low), BETWEEN
    if not near:
        return None
    where, share = below[-1] if below else above[0]
    step = slope * abs(at - where)
    if len(near) == 1:
        # The van may come from either side: halfway between, kept to the day out.
        return (_clip(share + step) + _clip(share - step)) / 2, BESIDE
    onward = math.copysign(1.0, _direction(near)) * (1.0 if at > where else -1.0)
    return _clip(share + onward * step), BEYOND


def _direction(near: Sequence[tuple[int, float]]) -> float:
    """The sign of the least-squares slope of share on position: which way the route runs."""
    mean_at = sum(p for p, _ in near) / len(near)
    mean_share = sum(s for _, s in near) / len(near)
    return sum((p - mean_at) * (s - mean_share) for p, s in near)


def _clip(share: float) -> float:
    return min(max(share, 0.0), 1.0)


Run = tuple[str | None, str, str, int, float]
"""(service, route, postal code, day ordinal, hours from departure to delivery) of a run that
delivered."""


def route_places(runs: Iterable[Run]) -> RoutePlaces:
    """The places learned from delivering runs: each service's day out from its same-day
    delivery times, then every code's days as shares of it, by route."""
    kept = [run for run in runs if run[4] < SAME_DAY]
    times: dict[str | None, list[float]] = {}
    for service, _, _, _, hours in kept:
        times.setdefault(service, []).append(hours)
    days_out = {s: _day_out(sorted(h)) for s, h in times.items() if len(h) >= MIN_SCALE}
    by_day: dict[str, dict[str, dict[int, list[float]]]] = {}
    for service, route, postal, day, hours in kept:
        day_out = days_out.get(service)
        if day_out is not None:
            codes = by_day.setdefault(route, {}).setdefault(postal, {})
            codes.setdefault(day, []).append(day_out.share(hours))
    routes = {
        route: {
            postal: tuple((d, sum(s) / len(s)) for d, s in sorted(days.items()))
            for postal, days in codes.items()
        }
        for route, codes in by_day.items()
    }
    return RoutePlaces(routes, days_out, _slope(routes))


def _day_out(ordered: list[float]) -> DayOut:
    count = len(ordered)
    start = ordered[int(_EDGE * count)]
    end = ordered[min(count - 1, int((1 - _EDGE) * count))]
    return DayOut(start, end - start if end > start else 1.0)


def _slope(routes: Mapping[str, Mapping[str, Days]]) -> float:
    """The typical share of the day out between neighbouring seen codes, per postal code
    apart: how far to carry a placing past the last seen code."""
    steps = []
    for codes in routes.values():
        seen = sorted(
            (where, sum(s for _, s in days) / len(days))
            for postal, days in codes.items()
            if days and (where := position(postal)) is not None
        )
        for (low, early), (high, late) in pairwise(seen):
            if 0 < high - low <= NEIGHBOURS:
                steps.append(abs(late - early) / (high - low))
    return statistics.median(steps) if steps else 0.0
