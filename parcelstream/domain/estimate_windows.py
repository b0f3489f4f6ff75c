"""Delivery windows from learned deliveries: each kept as (delivery days after the anchor scan's
date, local hour of delivery), turned into instants for one anchor and cut to the shortest window
that holds enough of those still possible."""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from datetime import date, time, timedelta
from zoneinfo import ZoneInfo

from parcelstream.domain.promise import from_local

Window = tuple[int, int, int, float]
"""(earliest, median, latest) UTC epoch microseconds, and the share of deliveries held."""

COVERAGE = 0.93
"""The share of the learned deliveries a window holds when no price of width is set (uncalibrated
statistics); a little above the 90 % promised because a fortnight's statistics are noisy and
next week is never quite like the last."""
SHARES = (0.75, 0.78, 0.81, 0.84, 0.87, 0.9, 0.93, 0.96, 0.98)
"""The shares a priced window chooses among."""
MIN_SAMPLES = 19
"""Fewer deliveries than this behind a statistic, and the next coarser one is used: 19 is the
fewest whose lowest and highest hold a next delivery with 90 % chance."""
NEAREST = 25
"""Deliveries the narrowest statistic takes, those whose anchor scan's time of day was nearest."""
_HOUR = 3_600_000_000
BUCKETS_PER_HOUR = 20
"""Times of day are looked up to within 1/20 h (3 minutes): what is found near one is kept
for every other in the same few minutes."""
CLOSE = 0.5
"""Hours of the day either side within which every anchor counts as near."""
_MIDNIGHT = time(0, 0)


class DayDistribution:
    """Deliveries after an anchor scan as (delivery days after the anchor's date, local hour):
    for each day count, the sorted hours."""

    __slots__ = ("count", "days", "flat", "hours")

    def __init__(self, samples: Iterable[tuple[int, float]]) -> None:
        by_day: dict[int, list[float]] = {}
        for days, hour in samples:
            by_day.setdefault(days, []).append(hour)
        self.days: tuple[int, ...] = tuple(sorted(by_day))
        self.hours: tuple[tuple[float, ...], ...] = tuple(
            tuple(sorted(by_day[d])) for d in self.days
        )
        self.count = sum(len(h) for h in self.hours)
        self.flat: tuple[tuple[int, float], ...] = tuple(
            (d, h) for d, hours in zip(self.days, self.hours, strict=True) for h in hours
        )

    def window(
        self,
        anchor_day: date,
        calendar: frozenset[int],
        zone: ZoneInfo,
        now: int,
        tod: float,
        price: float | None = None,
    ) -> Window | None:
        """(earliest, median, latest, share held) of the deliveries still possible at `now`
        (later than it); None when too few are left to say. `tod` is unused here; `price` as
        for `shortest`."""
        instants: list[int] = []
        for days, hours in zip(self.days, self.hours, strict=True):
            start = from_local(advance(anchor_day, days, calendar), _MIDNIGHT, zone)
            first = bisect_right(hours, (now - start) / _HOUR)
            instants.extend([start + int(h * _HOUR) for h in hours[first:]])
        return shortest(instants, price)

    def pool(self, tod: float) -> Sequence[tuple[int, float]]:
        """Every delivery as (days after the anchor's date, local hour); `tod` is unused."""
        return self.flat


class TimedDistribution:
    """Like DayDistribution, but each delivery also keeps the local time of day of its anchor
    scan, and a window is made from the NEAREST deliveries whose anchor scan came at about the
    same time of day: the time to a cut-off or a departure is what decides the day."""

    __slots__ = ("_nearby", "count", "samples", "tods")

    def __init__(self, samples: Iterable[tuple[float, int, float]]) -> None:
        ordered = sorted(samples, key=_first)
        self.tods: tuple[float, ...] = tuple(t for t, _, _ in ordered)
        self.samples: tuple[tuple[int, float], ...] = tuple((d, h) for _, d, h in ordered)
        self.count = len(ordered)
        self._nearby: dict[int, tuple[Sequence[tuple[int, float]], float]] = {}

    def window(
        self,
        anchor_day: date,
        calendar: frozenset[int],
        zone: ZoneInfo,
        now: int,
        tod: float,
        price: float | None = None,
    ) -> Window | None:
        if self.count < NEAREST:
            return None
        low, high = nearest(self.tods, tod, NEAREST)
        starts: dict[int, int] = {}
        instants = []
        for days, hour in self.samples[low:high]:
            start = starts.get(days)
            if start is None:
                start = starts[days] = from_local(
                    advance(anchor_day, days, calendar), _MIDNIGHT, zone
                )
            at = start + int(hour * _HOUR)
            if at > now:
                instants.append(at)
        instants.sort()
        return shortest(instants, price)

    def pool(self, tod: float) -> Sequence[tuple[int, float]]:
        """The NEAREST deliveries by the anchor's time of day (to within a few minutes), as
        (days, local hour)."""
        return self._near(tod)[0]

    def reach(self, tod: float) -> float:
        """How far in hours of the day the NEAREST anchors around `tod` spread from it: a wide
        reach blurs a cut-off that falls within it."""
        return self._near(tod)[1]

    def _near(self, tod: float) -> tuple[Sequence[tuple[int, float]], float]:
        bucket = int(tod * BUCKETS_PER_HOUR)
        found = self._nearby.get(bucket)
        if found is None:
            middle = bucket / BUCKETS_PER_HOUR
            low, high = nearest(self.tods, middle, NEAREST)
            reach = max(middle - self.tods[low], self.tods[high - 1] - middle)
            found = self._nearby[bucket] = (self.samples[low:high], reach)
        return found


def nearest(tods: Sequence[float], tod: float, count: int) -> tuple[int, int]:
    """The index range of the times of day (sorted) near `tod`: all within CLOSE hours of it when
    there are at least `count` of those, else the `count` nearest, widened to everything as near
    as the farthest of them so that ties never pick a biased few; all of them when there are
    fewer. Times of day do not wrap at midnight: a schedule's night differs from its morning
    anyway."""
    total = len(tods)
    if total <= count:
        return 0, total
    # Where there are plenty, all of those close in time of day: the nearest few alone would
    # often be one day's, and that day's storm or luck would be taken for every day's.
    low, high = bisect_left(tods, tod - CLOSE), bisect_right(tods, tod + CLOSE)
    if high - low >= count:
        return low, high
    middle = bisect_right(tods, tod)
    low = max(0, min(middle - count // 2, total - count))
    while low > 0 and tod - tods[low - 1] < tods[low + count - 1] - tod:
        low -= 1
    while low + count < total and tods[low + count] - tod < tod - tods[low]:
        low += 1
    radius = max(tod - tods[low], tods[low + count - 1] - tod)
    return bisect_left(tods, tod - radius), bisect_right(tods, tod + radius)


def _first(sample: tuple[float, int, float]) -> float:
    return sample[0]


def shortest(instants: list[int], price: float | None = None) -> Window | None:
    """(earliest, median, latest, share) of sorted delivery instants: the shortest window
    holding a share of them, so a distribution split between two days gives one day when one
    of them holds nearly all. Without a `price`, the share is COVERAGE; with one, the share
    among SHARES worth the most at `price` hours of width per whole share (a day's more width
    is taken only for enough more deliveries inside it). None when there are too few to say."""
    total = len(instants)
    if total < MIN_SAMPLES:
        return None
    median = instants[total // 2]
    best: tuple[float, int, int, float] | None = None
    for share in (COVERAGE,) if price is None else SHARES:
        # Between the i-th and the (i+span)-th of n sorted deliveries lies a next one with
        # chance span/(n+1) (plotting positions), so small samples get honest, wider windows.
        span = math.ceil(share * (total + 1))
        if span >= total - 1:
            found = (instants[0], instants[-1], (total - 1) / (total + 1))
        else:
            widths = [b - a for a, b in zip(instants, instants[span:], strict=False)]
            first = widths.index(min(widths))
            found = (instants[first], instants[first + span], span / (total + 1))
        low, high, held = found
        worth = held * (price or 0.0) - (high - low) / _HOUR
        if best is None or worth > best[0]:
            best = (worth, low, high, held)
        if held >= (total - 1) / (total + 1):
            break
    assert best is not None
    _, low, high, held = best
    return low, median, high, round(held, 3)


def advance(day: date, days: int, calendar: frozenset[int]) -> date:
    """The `days`-th delivery day after `day` (`day` itself for 0)."""
    while days > 0:
        day += timedelta(days=1)
        if day.weekday() in calendar:
            days -= 1
    return day
