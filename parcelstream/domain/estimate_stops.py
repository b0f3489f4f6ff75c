"""When a van out for delivery reaches an address: routes are planned, so a postal code is
reached about as long after the van leaves every day. Learned per destination postal code from
the few deliveries each has had; how far a next delivery falls from the mean of a code's
earlier ones is learned from every code at once (leave-one-out), by how many earlier ones
there were, so a code seen once gets an honestly wider window than one seen often."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

PER_CODE = 12
"""Deliveries kept per postal code (the latest), enough for its mean."""
MAX_SEEN = 4
"""Codes with this many earlier deliveries or more share one spread."""
MIN_RESIDUALS = 40
"""Fewer leave-one-out residuals than this behind a spread, and it is not used."""
COVERAGE = 0.92
"""The share of the residuals a window holds: a little above the 90 % promised, as next week is
never quite like the last."""

_SAME_DAY = 12.0
"""Hours after the van left within which a delivery was on that run, not a later day's."""
_NEARLY_ALL = 0.95

StopKey = tuple[str | None, str]
"""(service, destination postal code)."""


@dataclass(frozen=True, slots=True)
class StopTimes:
    """Hours from OUT_FOR_DELIVERY to delivery: per postal code, the mean and how many
    deliveries it rests on; per (service, that count), the window around the mean."""

    means: Mapping[StopKey, tuple[float, int]] = field(default_factory=dict)
    spreads: Mapping[tuple[str | None, int], tuple[float, float, float]] = field(
        default_factory=dict
    )
    """(low, high, share of runs held) around the mean."""

    def window(self, key: StopKey) -> tuple[float, float, float, float] | None:
        """(low, mean, high) hours after the van left and the share of runs such a window held,
        or None when the code was never seen or the spread for its count could not be learned."""
        found = self.means.get(key)
        if found is None:
            return None
        mean, seen = found
        # Too few codes seen this often to learn their spread: that of codes seen less often
        # is wider, so still honest.
        for count in range(min(seen, MAX_SEEN), 0, -1):
            spread = self.spreads.get((key[0], count))
            if spread is not None:
                low, high, held = spread
                return max(mean + low, 0.0), mean, mean + high, held
        return None


class StopTimesBuilder:
    def __init__(self) -> None:
        self._runs: dict[StopKey, list[tuple[int, float, bool]]] = {}

    def add(self, key: StopKey, day: int, hours: float, *, delivered: bool) -> None:
        """One van run out to the code on `day` (an ordinal): `hours` from its departure to the
        package's delivery, and whether that run delivered it (or the attempt failed and a later
        run did, which a window must allow for too)."""
        kept = self._runs.setdefault(key, [])
        kept.append((day, hours, delivered))
        if len(kept) > PER_CODE:
            del kept[0]

    def build(self) -> StopTimes:
        residuals: dict[tuple[str | None, int], list[float]] = {}
        means: dict[StopKey, tuple[float, int]] = {}
        for key, runs in self._runs.items():
            done = [(day, hours) for day, hours, delivered in runs if delivered]
            if not done:
                continue
            means[key] = (sum(h for _, h in done) / len(done), len(done))
            for day, hours, _ in runs:
                # Leave the whole day out: packages to one code on one day share the van's
                # day, so a same-day neighbour would make the spread look smaller than it is.
                others = [h for d, h in done if d != day]
                if others:
                    bucket = (key[0], min(len(others), MAX_SEEN))
                    residuals.setdefault(bucket, []).append(hours - sum(others) / len(others))
        spreads = {
            bucket: same_day(sorted(found))
            for bucket, found in residuals.items()
            if len(found) >= MIN_RESIDUALS
        }
        return StopTimes(means, spreads)


def same_day(ordered: list[float]) -> tuple[float, float, float]:
    """(low, high, share held) of sorted residuals: the shortest interval holding COVERAGE, kept
    to the van's day. A failed attempt is delivered on a later run, a day or more on: if so many
    fail that COVERAGE needs one of them, the window holds nearly all of the day's deliveries and
    says how much less than COVERAGE that is (the failed attempt is a new scan, and a new
    estimate, anyway)."""
    today = [r for r in ordered if r < _SAME_DAY]
    share = len(today) / len(ordered)
    if share > COVERAGE + 0.02 or len(today) < 2:
        low, high = shortest(ordered, COVERAGE)
        return low, high, COVERAGE
    low, high = shortest(today, _NEARLY_ALL)
    return low, high, round(share * _NEARLY_ALL, 3)


def shortest(ordered: list[float], coverage: float) -> tuple[float, float]:
    """The shortest interval holding `coverage` of sorted values (plotting positions: between
    the i-th and the (i+span)-th of n lies a next value with chance span/(n+1))."""
    total = len(ordered)
    span = min(math.ceil(coverage * (total + 1)), total - 1)
    widths = [b - a for a, b in zip(ordered, ordered[span:], strict=False)]
    best = widths.index(min(widths))
    return ordered[best], ordered[best + span]
