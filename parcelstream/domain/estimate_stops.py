"""When a van out for delivery reaches an address: routes are planned, so a postal code is
reached about as long after the van leaves every day. When the OUT_FOR_DELIVERY scan names its
driver, the code is placed on that driver's route from its own deliveries and its neighbours'
(estimate_neighbours.py), so a code never delivered to before still gets a window of a few
hours; without a driver (a partner carrier's scan), from the code's own deliveries alone.

How far a next delivery falls from such a placing is learned from every code at once, leaving
each day out in turn: by the kind of evidence behind the placing (own deliveries, neighbours on
both sides, on one side), or, for the code's own mean, by how many earlier deliveries there
were. A code placed from neighbours only thus gets an honestly wider window than one seen."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from parcelstream.domain.estimate_neighbours import (
    SAME_DAY,
    RoutePlaces,
    route_places,
)

PER_CODE = 12
"""Runs kept per (service, postal code) (the latest), enough for its mean."""
MAX_SEEN = 4
"""Codes with this many earlier deliveries or more share one spread."""
MIN_RESIDUALS = 40
"""Fewer leave-one-out residuals than this behind a spread, and it is not used."""
COVERAGE = 0.92
"""The share of the residuals a window holds: a little above the 90 % promised, as next week is
never quite like the last."""

_NEARLY_ALL = 0.95

StopKey = tuple[str | None, str]
"""(service, destination postal code)."""
Spread = tuple[float, float, float]
"""(low, high, share of runs held) around a mean."""
Window = tuple[float, float, float, float]
"""(low, mean, high) hours after the van left, and the share of runs such a window held."""
_Kept = tuple[int, float, bool, str | None]
"""(day ordinal, hours to delivery, whether this run delivered, driver)."""


@dataclass(frozen=True, slots=True)
class StopTimes:
    """Hours from OUT_FOR_DELIVERY to delivery: placed on the driver's route, with the window
    around a placing by (service, kind of evidence); and per postal code, the mean and how many
    deliveries it rests on, with the window around it by (service, that count)."""

    means: Mapping[StopKey, tuple[float, int]] = field(default_factory=dict)
    spreads: Mapping[tuple[str | None, int], Spread] = field(default_factory=dict)
    places: RoutePlaces = field(default_factory=RoutePlaces)
    placed_spreads: Mapping[tuple[str | None, str], Spread] = field(default_factory=dict)
    any_service: Mapping[str, Spread] = field(default_factory=dict)
    """Around a placing, by kind, from every service at once: for a service with too few
    residuals of its own (wider for a quick express run, so still honest)."""

    def window(self, key: StopKey, route: str | None = None) -> Window | None:
        """The window for a van of `route` (the driver on the scan) reaching the code; without
        one, or when the route cannot place the code, from the code's own deliveries; None when
        the code was never seen either, or no spread could be learned for its evidence."""
        if route is not None:
            placed = self._placed(key, route)
            if placed is not None:
                return placed
        return self._own(key)

    def _placed(self, key: StopKey, route: str) -> Window | None:
        found = self.places.place(key[0], route, key[1])
        if found is None:
            return None
        hours, kind = found
        spread = self.placed_spreads.get((key[0], kind)) or self.any_service.get(kind)
        return _around(hours, spread) if spread is not None else None

    def _own(self, key: StopKey) -> Window | None:
        found = self.means.get(key)
        if found is None:
            return None
        mean, seen = found
        # Too few codes seen this often to learn their spread: that of codes seen less often
        # is wider, so still honest.
        for count in range(min(seen, MAX_SEEN), 0, -1):
            spread = self.spreads.get((key[0], count))
            if spread is not None:
                return _around(mean, spread)
        return None


class StopTimesBuilder:
    def __init__(self) -> None:
        self._runs: dict[StopKey, list[_Kept]] = {}

    def add(
        self, key: StopKey, day: int, hours: float, *, delivered: bool, route: str | None = None
    ) -> None:
        """One van run out to the code on `day` (an ordinal): `hours` from its departure to the
        package's delivery, and whether that run delivered it (or the attempt failed and a later
        run did, which a window must allow for too); `route`: the driver on the scan, if any."""
        kept = self._runs.setdefault(key, [])
        kept.append((day, hours, delivered, route))
        if len(kept) > PER_CODE:
            del kept[0]

    def build(self) -> StopTimes:
        means, spreads = self._own()
        places = route_places(
            (service, route, postal, day, hours)
            for (service, postal), runs in self._runs.items()
            for day, hours, delivered, route in runs
            if delivered and route is not None
        )
        placed, any_service = self._placed(places)
        return StopTimes(means, spreads, places, placed, any_service)

    def _own(self) -> tuple[dict[StopKey, tuple[float, int]], dict[tuple[str | None, int], Spread]]:
        residuals: dict[tuple[str | None, int], list[float]] = {}
        means: dict[StopKey, tuple[float, int]] = {}
        for key, runs in self._runs.items():
            done = [(day, hours) for day, hours, delivered, _ in runs if delivered]
            if not done:
                continue
            means[key] = (sum(h for _, h in done) / len(done), len(done))
            for day, hours, _, _ in runs:
                # Leave the whole day out: packages to one code on one day share the van's
                # day, so a same-day neighbour would make the spread look smaller than it is.
                others = [h for d, h in done if d != day]
                if others:
                    bucket = (key[0], min(len(others), MAX_SEEN))
                    residuals.setdefault(bucket, []).append(hours - sum(others) / len(others))
        return means, _spreads(residuals)

    def _placed(
        self, places: RoutePlaces
    ) -> tuple[dict[tuple[str | None, str], Spread], dict[str, Spread]]:
        """How far each run's delivery fell from its placing without the days it was out."""
        residuals: dict[tuple[str | None, str], list[float]] = {}
        pooled: dict[str, list[float]] = {}
        for (service, postal), runs in self._runs.items():
            for day, hours, delivered, route in runs:
                if route is None:
                    continue
                found = places.place(service, route, postal, _out(day, hours, delivered))
                if found is not None:
                    placed, kind = found
                    residuals.setdefault((service, kind), []).append(hours - placed)
                    pooled.setdefault(kind, []).append(hours - placed)
        return _spreads(residuals), _spreads(pooled)


def _out(day: int, hours: float, delivered: bool) -> range:
    """The days a run's package was out: from the run to its delivery. A failed attempt's
    package was delivered by a later run to the same code, which must not place it."""
    return range(day, day + 1 + (0 if delivered else math.ceil(hours / 24)))


_Bucket = TypeVar("_Bucket")


def _spreads(residuals: Mapping[_Bucket, list[float]]) -> dict[_Bucket, Spread]:
    return {
        bucket: same_day(sorted(found))
        for bucket, found in residuals.items()
        if len(found) >= MIN_RESIDUALS
    }


def _around(mean: float, spread: Spread) -> Window:
    low, high, held = spread
    return max(mean + low, 0.0), mean, mean + high, held


def same_day(ordered: list[float]) -> Spread:
    """(low, high, share held) of sorted residuals: the shortest interval holding COVERAGE, kept
    to the van's day. A failed attempt is delivered on a later run, a day or more on: if so many
    fail that COVERAGE needs one of them, the window holds nearly all of the day's deliveries and
    says how much less than COVERAGE that is (the failed attempt is a new scan, and a new
    estimate, anyway)."""
    today = [r for r in ordered if r < SAME_DAY]
    if _span(len(ordered), COVERAGE) < len(today) or len(today) < 2:
        low, high = shortest(ordered, COVERAGE)
        return low, high, COVERAGE
    low, high = shortest(today, _NEARLY_ALL)
    return low, high, round(len(today) / len(ordered) * _NEARLY_ALL, 3)


def shortest(ordered: list[float], coverage: float) -> tuple[float, float]:
    """The shortest interval holding `coverage` of sorted values (plotting positions: between
    the i-th and the (i+span)-th of n lies a next value with chance span/(n+1))."""
    span = _span(len(ordered), coverage)
    widths = [b - a for a, b in zip(ordered, ordered[span:], strict=False)]
    best = widths.index(min(widths))
    return ordered[best], ordered[best + span]


def _span(total: int, coverage: float) -> int:
    return min(math.ceil(coverage * (total + 1)), total - 1)
