"""Estimates by chaining the network: draw the package's hops from where it is to its delivery
station (domain/estimate_network.py), then its delivery from when packages were delivered after
reaching that station at that time of day, many times over; the window is the shortest that
holds enough of the draws."""

from __future__ import annotations

import random
import zlib
from collections.abc import Sequence
from datetime import date, time
from zoneinfo import ZoneInfo

from parcelstream.domain.estimate_network import ARRIVED, scan_code
from parcelstream.domain.estimate_stats import (
    EtaStats,
    Route,
    keys_at,
    shift_anchor,
)
from parcelstream.domain.estimate_windows import (
    BUCKETS_PER_HOUR,
    MIN_SAMPLES,
    NEAREST,
    DayDistribution,
    TimedDistribution,
    Window,
    advance,
    shortest,
)
from parcelstream.domain.promise import from_local, to_local
from parcelstream.domain.scans import Scan

DRAWS = 100
"""Walks drawn per estimate."""
MAX_LOST = 0.2
"""If more of the walks than this find no way (a hop or a station never seen), no estimate."""

MAX_ANCHORS = 100_000
"""Station arrivals whose deliveries to draw from are kept (then all are forgotten)."""
MAX_REACH = 1.0
"""Hours of the day the arrivals behind a station statistic may spread from a walk's arrival
before a wider statistic with nearer arrivals is preferred."""

_HOUR = 3_600_000_000
_DAY = 24 * _HOUR
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_MIDNIGHT = time(0, 0)


def network_window(
    latest: Scan,
    place: Route,
    stats: EtaStats,
    calendar: frozenset[int],
    zone: ZoneInfo,
    now: int,
    price: float | None,
) -> Window | None:
    """The window of the walks' deliveries still possible at `now`; None when `latest` is at
    the delivery station already, or the network does not know the way from it."""
    memo = stats.draws
    if memo is None:
        instants = _draw(latest, place, stats, calendar, zone, now)
    else:
        key = (latest.tracking_number, latest.occurred_at, now)
        if key not in memo:
            memo[key] = _draw(latest, place, stats, calendar, zone, now)
        instants = memo[key]
    return None if instants is None else shortest(instants, price)


def _draw(
    latest: Scan,
    place: Route,
    stats: EtaStats,
    calendar: frozenset[int],
    zone: ZoneInfo,
    now: int,
) -> list[int] | None:
    """The walks' delivery instants after `now`, sorted; None when too many found no way."""
    walks = stats.network.walks(latest, scan_code(latest), place[1:], DRAWS)
    # Seeded by the scan, so the same history always gives the same estimate.
    rng = random.Random(zlib.crc32(f"{latest.tracking_number}|{latest.occurred_at}".encode()))
    offset = to_local(latest.occurred_at, zone).utcoffset()
    shift = int(offset.total_seconds()) * 1_000_000 if offset is not None else 0
    finals: dict[str, list[DayDistribution | TimedDistribution] | None] = {}
    anchors = stats.anchors
    if len(anchors) >= MAX_ANCHORS:
        anchors.clear()
    midnights: dict[tuple[int, int], int] = {}
    instants: list[int] = []
    lost = 0
    for walk in walks:
        if walk is None:
            lost += 1
            continue
        # The arrival in the destination's local time (at the offset it has now: a walk is
        # days, not a change of season, long).
        local = latest.occurred_at + walk.arrives + shift
        day, tod = local // _DAY + _EPOCH_ORDINAL, (local % _DAY) / _HOUR
        asked = (walk.station, *place[1:], day, int(tod * BUCKETS_PER_HOUR))
        if asked in anchors:
            anchor = anchors[asked]
        else:
            final = _final(stats, walk.station, place, finals)
            anchor = anchors[asked] = None if final is None else _anchor(final, day, tod, calendar)
        if anchor is None:
            lost += 1
            continue
        pool, start = anchor
        days, hour = pool[int(rng.random() * len(pool))]
        midnight = midnights.get((start, days))
        if midnight is None:
            delivered = advance(date.fromordinal(start), days, calendar)
            midnight = midnights[(start, days)] = from_local(delivered, _MIDNIGHT, zone)
        at = midnight + int(hour * _HOUR)
        if at > now:
            instants.append(at)
    if lost > MAX_LOST * DRAWS:
        return None
    instants.sort()
    return instants


def _anchor(
    final: list[DayDistribution | TimedDistribution],
    day: int,
    tod: float,
    calendar: frozenset[int],
) -> tuple[Sequence[tuple[int, float]], int]:
    """The deliveries to draw from after an arrival at the station on `day` (an ordinal) at
    `tod`, and the day they count delivery days from (the next delivery day, from a day there
    is none)."""
    start, tod = shift_anchor(date.fromordinal(day), tod, calendar)
    return _sharpest(final, tod).pool(tod), start.toordinal()


def _final(
    stats: EtaStats,
    station: str,
    place: Route,
    found: dict[str, list[DayDistribution | TimedDistribution] | None],
) -> list[DayDistribution | TimedDistribution] | None:
    """The statistics of deliveries after reaching `station` with enough behind them, narrowest
    first, up to the first that ignores the time of day."""
    if station in found:
        return found[station]
    usable: list[DayDistribution | TimedDistribution] = []
    for statistic in keys_at(ARRIVED, station, stats.network.places.get(station), place):
        distribution = stats.remaining.get(statistic)
        if distribution is None:
            continue
        enough = NEAREST if isinstance(distribution, TimedDistribution) else MIN_SAMPLES
        if distribution.count >= enough:
            usable.append(distribution)
            if isinstance(distribution, DayDistribution):
                break
    found[station] = usable or None
    return found[station]


def _sharpest(
    usable: list[DayDistribution | TimedDistribution], tod: float
) -> DayDistribution | TimedDistribution:
    """The narrowest statistic whose deliveries came after arrivals near enough `tod` to tell
    which side of the station's cut-off it is on; else the one nearest in time of day."""
    best = usable[0]
    best_reach = float("inf")
    for distribution in usable:
        if not isinstance(distribution, TimedDistribution):
            return best if best_reach < float("inf") else distribution
        reach = distribution.reach(tod)
        if reach <= MAX_REACH:
            return distribution
        if reach < best_reach:
            best, best_reach = distribution, reach
    return best
