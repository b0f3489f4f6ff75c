"""The carrier's network as learned from delivered histories: which facility a package goes to
next on its way to a destination area, and how long each hop between two facilities takes after
a scan at a given local time of day. Chaining the hops from where a package is now to its
delivery station says which morning it can go out for delivery, where a statistic of "this scan
at this facility for this destination" is too rare to learn: every package through a hub teaches
the hub's hops, whatever its origin and destination.

A hop's time depends on the time of day of the scan it starts from (the next departure wave, a
sort centre's evening truck) and on the day (no linehaul on a Sunday), so hops are drawn from the
deliveries whose scan came at about the same time of day, on the same kind of day when there are
enough of them.
"""

from __future__ import annotations

import random
import zlib
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from parcelstream.domain.estimate_windows import BUCKETS_PER_HOUR, nearest
from parcelstream.domain.scans import Location, Scan, ScanCode

NEAREST = 25
"""Hops a draw chooses among: those whose start scan came nearest in time of day."""
MIN_ROUTED = 3
"""Packages behind a next-hop choice before it is trusted (else a coarser key is tried)."""
SAMPLE_CAP = 2000
"""Hops kept per (from, to, scan code, day kind), a uniform sample beyond that."""
MIN_TRIPS = 5
"""Trips from a departure scan kept to draw from (other hops need NEAREST)."""
MAX_REMEMBERED = 20_000
"""Starts whose walks are kept for the next package like it (then they are all forgotten)."""
MAX_HOPS = 8
"""A walk longer than this is a loop the histories never showed: no estimate from it."""
DELIVER = ""
"""The next "facility" after a package's delivery station: the walk ends there."""
ANY_DAY = 3
ARRIVED = ScanCode.ARRIVED_AT_FACILITY.value
DEPARTED = ScanCode.DEPARTED_FACILITY.value
ANYWHERE = "*"
"""The "from facility" of hops into a facility from any of those that feed it."""
LEAVES = "(leaves)"
"""The "next facility" of a hop that ends when the package leaves: the wait for a departure."""

_HOUR = 3_600_000_000

HopKey = tuple[str, str, str, str | None, int]
"""(from facility, to facility, scan code at `from`, service or None for any, day kind: WEEKDAY,
SATURDAY, SUNDAY or ANY_DAY). The service matters where services part ways in time: two-day
air waits a day at the air hub that next-day air leaves at once."""
Destination = tuple[str | None, str | None, str | None]
"""(destination region, destination area, service), as in estimate_stats.Route."""
_Ways = tuple[tuple[str, ...], tuple[int, ...]]
"""Next facilities and the cumulative count of packages that went each way."""
_Plan = tuple["Hops", "Hops | None"]
"""How a hop is drawn: one draw, or the wait to leave and then the trip."""


class Hops:
    """Hours from a scan at one facility to the first scan at the next, by the scan's local time
    of day."""

    __slots__ = ("_ranges", "hours", "timed", "tods")

    def __init__(self, samples: Iterable[tuple[float, float]], *, timed: bool = True) -> None:
        ordered = sorted(samples)
        self.tods: tuple[float, ...] = tuple(t for t, _ in ordered)
        self.hours: tuple[float, ...] = tuple(h for _, h in ordered)
        self._ranges: dict[int, tuple[int, int]] = {}
        self.timed = timed
        """False for a trip from a departure: a truck's trip takes about as long whenever it
        leaves, and the packages departing near one time of day mostly rode one truck, so
        drawing among them alone would take one truck's luck for the lane's."""

    def draw(self, tod: float, rng: random.Random) -> float:
        """Hours of one hop like those that started at about `tod` (to within a few minutes,
        so the neighbours of each few minutes of the day are found once)."""
        if not self.timed:
            return self.hours[int(rng.random() * len(self.hours))]
        bucket = int(tod * BUCKETS_PER_HOUR)
        found = self._ranges.get(bucket)
        if found is None:
            found = self._ranges[bucket] = nearest(self.tods, bucket / BUCKETS_PER_HOUR, NEAREST)
        low, high = found
        return self.hours[low + int(rng.random() * (high - low))]


@dataclass(frozen=True, slots=True)
class Walk:
    """Where a walk through the network ends: the delivery station, how long after the walk's
    start the package is first scanned there, and that scan's offset from UTC (minutes)."""

    station: str
    arrives: int
    """Microseconds after the start scan."""
    utc_offset: int


@dataclass(frozen=True, slots=True)
class Network:
    """The learned network. Only hops with at least NEAREST behind them are kept (MIN_TRIPS for
    trips from a departure)."""

    hops: dict[HopKey, Hops] = field(default_factory=dict)
    routes: dict[tuple[object, ...], tuple[tuple[str, ...], tuple[int, ...]]] = field(
        default_factory=dict
    )
    """Next facilities seen from a facility towards a destination (`route_keys`), with how many
    packages went each way, as cumulative counts."""
    offsets: dict[str, int] = field(default_factory=dict)
    """A facility's latest offset from UTC (minutes), as its scanners reported it."""
    places: dict[str, Location] = field(default_factory=dict)
    """Where each facility is, as its scans said."""
    stations: dict[tuple[str | None, str | None], str] = field(default_factory=dict)
    """The station most packages to a destination area went out for delivery from, by (area,
    service) and (area, None)."""
    links: dict[tuple[str, str | None], dict[str, int]] = field(default_factory=dict)
    """Where packages went next from a facility, with how many, by (facility, service) and
    (facility, None), whatever their destination."""
    _ways: dict[tuple[str, Destination], _Ways | None] = field(
        default_factory=dict, compare=False, repr=False
    )
    """`routes` resolved per (facility, destination), as the walks ask again and again."""
    _plans: dict[tuple[str, str, str, str | None, int], _Plan | None] = field(
        default_factory=dict, compare=False, repr=False
    )
    """How each hop is drawn (`_plan`), resolved once."""
    _feeders: dict[tuple[str, str | None], dict[str, int]] = field(
        default_factory=dict, compare=False, repr=False
    )
    _walks: dict[tuple[object, ...], list[Walk | None]] = field(
        default_factory=dict, compare=False, repr=False
    )
    """Walks drawn (`walks`), at most MAX_REMEMBERED starts."""

    def walks(self, start: Scan, code: str, where: Destination, count: int) -> list[Walk | None]:
        """`count` draws of the package's way from `start` (scanned `code`), as if it started at
        the epoch: add the start's time to each `arrives`. The same for every scan of the same
        code at the same facility towards the same destination in the same few minutes of the
        same weekday, so they are drawn once (and from a generator seeded by just that, so
        which package asked first changes nothing)."""
        tod = local_tod(start.occurred_at, start.utc_offset)
        weekday = _weekday(start.occurred_at, start.utc_offset)
        asked = (start.facility_id, code, where, weekday, int(tod * BUCKETS_PER_HOUR), count)
        found = self._walks.get(asked)
        if found is None:
            if len(self._walks) >= MAX_REMEMBERED:
                self._walks.clear()
            rng = random.Random(zlib.crc32(repr(asked).encode()))
            # Per call, the ways and hop plans by facility alone: `where` is the same for all.
            ways: dict[str, _Ways | None] = {}
            plans: dict[tuple[str, str, str, int], _Plan | None] = {}
            found = [self._walk(start, code, where, rng, ways, plans) for _ in range(count)]
            self._walks[asked] = found
        return found

    def _walk(
        self,
        start: Scan,
        code: str,
        where: Destination,
        rng: random.Random,
        ways: dict[str, _Ways | None],
        plans: dict[tuple[str, str, str, int], _Plan | None],
    ) -> Walk | None:
        """One draw of the way from `start` to the delivery station, timed from `start`; None
        when the network never showed a way from there, or `start` is at the station."""
        facility, offset = start.facility_id, start.utc_offset
        at = base = start.occurred_at
        for step in range(MAX_HOPS):
            if facility in ways:
                found = ways[facility]
            else:
                found = ways[facility] = self._ways_from(facility, where)
            if found is None:
                return None
            following = _choose(found, rng)
            if following == DELIVER:
                return Walk(facility, at - base, offset) if step else None
            hop_code = code if step == 0 else ARRIVED
            # day_kind and local_tod, written out: this loop runs ~400 times per estimate, and
            # in a profile the calls took about a seventh of the walks' time.
            weekday = ((at // 60_000_000 + offset) // 1440 + _EPOCH_WEEKDAY) % 7
            kind = SATURDAY if weekday == 5 else SUNDAY if weekday == 6 else WEEKDAY
            asked = (facility, following, hop_code, kind)
            if asked in plans:
                plan = plans[asked]
            else:
                plan = plans[asked] = self._plan(facility, following, hop_code, where[2], kind)
            if plan is None:
                return None
            first, trip = plan
            at += int(first.draw(((at / 60_000_000 + offset) % 1440) / 60, rng) * _HOUR)
            if trip is not None:
                at += int(trip.draw(((at / 60_000_000 + offset) % 1440) / 60, rng) * _HOUR)
            facility = following
            offset = self.offsets.get(facility, offset)
        return None

    def next_facility(self, facility: str, where: Destination, rng: random.Random) -> str | None:
        """Where a package at `facility` bound for `where` goes next (DELIVER from its station),
        drawn by how many packages went each way; None when no way is known."""
        found = self._ways_from(facility, where)
        return None if found is None else _choose(found, rng)

    def _ways_from(self, facility: str, where: Destination) -> _Ways | None:
        asked = (facility, where)
        if asked in self._ways:
            return self._ways[asked]
        # The service's own ways first, even towards another destination: next-day air leaves
        # a sort centre for the air hub wherever it is bound, unlike ground.
        keys = route_keys(facility, where)
        found = next((self.routes[k] for k in keys[:2] if k in self.routes), None)
        if found is None:
            way = self._way_by_links(facility, where)
            found = None if way is None else ((way,), (1,))
        if found is None:
            found = next((self.routes[k] for k in keys[2:] if k in self.routes), None)
        self._ways[asked] = found
        return found

    def _way_by_links(self, facility: str, where: Destination) -> str | None:
        """Towards a destination no package from `facility` went to: straight to its station
        if packages went there from here; else to a facility that feeds that station; else
        where most packages from here go (a sort centre's hub), never another area's station."""
        _, area, service = where
        station = self.stations.get((area, service)) or self.stations.get((area, None))
        if station is None:
            return None
        if station == facility:
            return DELIVER
        going = self.links.get((facility, service)) or self.links.get((facility, None))
        if not going:
            return None
        if station in going:
            return station
        feeders = self._links_into(station, service)
        for feeder in sorted(feeders, key=feeders.__getitem__, reverse=True):
            if feeder in going:
                return feeder
        elsewhere = set(self.stations.values())
        onward = [f for f in going if f not in elsewhere and f != DELIVER]
        return max(onward, key=going.__getitem__) if onward else None

    def _links_into(self, station: str, service: str | None) -> dict[str, int]:
        """Facilities packages came to `station` from, with how many."""
        found = self._feeders.get((station, service))
        if found is None:
            found = {
                here: going[station]
                for (here, by), going in self.links.items()
                if by == service and station in going
            }
            self._feeders[(station, service)] = found
        return found

    def _plan(
        self, facility: str, following: str, code: str, service: str | None, kind: int
    ) -> _Plan | None:
        """How to draw a hop: from hops seen between the two facilities, else from the wait to
        leave `facility` (learned from every package leaving it, wherever to) and the trip from
        there; the service's own first."""
        asked = (facility, following, code, service, kind)
        if asked in self._plans:
            return self._plans[asked]
        plan: _Plan | None = None
        # Last, hops into the next facility from anywhere: a pickup point sees too few
        # packages of its own, but all of a sort centre's pickups are brought in alike.
        for origin, by in ((facility, service), (facility, None), (ANYWHERE, service)):
            if origin == ANYWHERE:
                into = self._hops((ANYWHERE, following, code, by), kind)
                plan = None if into is None else (into, None)
                break
            direct = self._hops((origin, following, code, by), kind)
            if direct is not None:
                plan = (direct, None)
                break
            if code == DEPARTED:
                continue
            dwell = self._hops((facility, LEAVES, code, by), kind)
            trip = self._hops((facility, following, DEPARTED, service), ANY_DAY) or self._hops(
                (facility, following, DEPARTED, None), ANY_DAY
            )
            if dwell is not None and trip is not None:
                plan = (dwell, trip)
                break
        self._plans[asked] = plan
        return plan

    def _hops(self, hop: tuple[str, str, str, str | None], kind: int) -> Hops | None:
        found = self.hops.get((*hop, kind))
        return found if found is not None else self.hops.get((*hop, ANY_DAY))


def route_keys(facility: str, where: Destination) -> tuple[tuple[object, ...], ...]:
    """From the narrowest way to the widest: towards the destination area for this service,
    the destination region for this service, then the area and the region at any service."""
    region, area, service = where
    return (
        (facility, area, service),
        (facility, region, service),
        (facility, area),
        (facility, region),
    )


class NetworkBuilder:
    def __init__(self, rng: random.Random) -> None:
        self._random = rng
        self._hops: dict[HopKey, list[tuple[float, float]]] = {}
        self._seen: dict[HopKey, int] = {}
        self._routes: dict[tuple[object, ...], dict[str, int]] = {}
        self._offsets: dict[str, int] = {}
        self._places: dict[str, Location] = {}
        self._stations: dict[tuple[str | None, str | None], dict[str, int]] = {}
        self._links: dict[tuple[str, str | None], dict[str, int]] = {}

    def add(self, history: Sequence[Scan], delivered: int, where: Destination) -> None:
        """Learn from one delivered package's history (scans before its delivery). The delivery
        station is where it last went out for delivery; visits are runs of scans at one
        facility."""
        visits: list[list[Scan]] = []
        station: str | None = None
        for scan in history:
            if scan.occurred_at >= delivered:
                break
            if scan.status_code is ScanCode.OUT_FOR_DELIVERY:
                station = scan.facility_id
            self._offsets[scan.facility_id] = scan.utc_offset
            if scan.location is not None and not scan.status_code.value.startswith("DELIVER"):
                self._places.setdefault(scan.facility_id, scan.location)
            if visits and visits[-1][0].facility_id == scan.facility_id:
                visits[-1].append(scan)
            else:
                visits.append([scan])
        if station is None:
            return
        # Up to the first visit of the station: what comes after it (failed attempts, a
        # return to it) is the last mile's, not the network's.
        end = next((n for n, visit in enumerate(visits) if visit[0].facility_id == station), None)
        if end is None:
            return
        path = visits[: end + 1]
        for here, there in pairwise(path):
            arrived = there[0].occurred_at
            self._route(here[0].facility_id, there[0].facility_id, where)
            departed = [s.occurred_at for s in here if s.status_code is ScanCode.DEPARTED_FACILITY]
            for scan in here:
                hours = (arrived - scan.occurred_at) / _HOUR
                self._hop(scan, there[0].facility_id, where[2], hours)
                if here is path[0]:
                    self._hop(scan, there[0].facility_id, where[2], hours, ANYWHERE)
                if departed and scan.occurred_at < departed[-1]:
                    self._hop(scan, LEAVES, where[2], (departed[-1] - scan.occurred_at) / _HOUR)
        self._route(station, DELIVER, where)
        for by in (where[2], None):
            _count(self._stations.setdefault((where[1], by), {}), station)

    def build(self) -> Network:
        # A trip from a departure to the next arrival hardly depends on the time of day: a few
        # are enough to draw from.
        hops = {
            key: Hops(kept, timed=key[2] != DEPARTED)
            for key, kept in self._hops.items()
            if len(kept) >= (MIN_TRIPS if key[2] == DEPARTED else NEAREST)
        }
        routes = {}
        for key, counts in self._routes.items():
            if sum(counts.values()) < MIN_ROUTED:
                continue
            ways = tuple(sorted(counts))
            cumulative, total = [], 0
            for way in ways:
                total += counts[way]
                cumulative.append(total)
            routes[key] = (ways, tuple(cumulative))
        stations = {
            key: max(counts, key=counts.__getitem__) for key, counts in self._stations.items()
        }
        return Network(hops, routes, dict(self._offsets), dict(self._places), stations, self._links)

    def _route(self, facility: str, following: str, where: Destination) -> None:
        for key in route_keys(facility, where):
            _count(self._routes.setdefault(key, {}), following)
        if following != DELIVER:
            for by in (where[2], None):
                _count(self._links.setdefault((facility, by), {}), following)

    def _hop(
        self,
        scan: Scan,
        following: str,
        service: str | None,
        hours: float,
        origin: str | None = None,
    ) -> None:
        if hours < 0:
            return  # a clock that was wrong: no hop goes back in time
        code = scan_code(scan)
        tod = local_tod(scan.occurred_at, scan.utc_offset)
        kind = day_kind(scan.occurred_at, scan.utc_offset)
        for key in (
            (origin or scan.facility_id, following, code, by, day)
            for by in (service, None)
            for day in (kind, ANY_DAY)
        ):
            kept = self._hops.setdefault(key, [])
            seen = self._seen[key] = self._seen.get(key, 0) + 1
            if len(kept) < SAMPLE_CAP:
                kept.append((tod, hours))
            else:  # reservoir sampling: every hop ends up kept with the same chance
                slot = self._random.randrange(seen)
                if slot < SAMPLE_CAP:
                    kept[slot] = (tod, hours)


def _choose(found: _Ways, rng: random.Random) -> str:
    ways, counts = found
    if len(ways) == 1:
        return ways[0]
    return ways[bisect_right(counts, int(rng.random() * counts[-1]))]


def _count(counts: dict[str, int], what: str) -> None:
    counts[what] = counts.get(what, 0) + 1


def scan_code(scan: Scan) -> str:
    """The scan's code, with its exception code on an exception or a failed attempt: a weather
    hold is not an ordinary one. The key of every statistic by kind of scan."""
    if scan.exception_code and scan.status_code in _WITH_REASON:
        return f"{scan.status_code}:{scan.exception_code}"
    return scan.status_code


_WITH_REASON = (ScanCode.EXCEPTION, ScanCode.DELIVERY_ATTEMPTED)


WEEKDAY, SATURDAY, SUNDAY = 0, 1, 2
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday


def day_kind(at: int, utc_offset: int) -> int:
    """Monday to Friday, Saturday or Sunday, in the scan's own local time."""
    weekday = _weekday(at, utc_offset)
    return SATURDAY if weekday == 5 else SUNDAY if weekday == 6 else WEEKDAY


def _weekday(at: int, utc_offset: int) -> int:
    """0 for Monday, in the scan's own local time."""
    return ((at // 60_000_000 + utc_offset) // 1440 + _EPOCH_WEEKDAY) % 7


def local_tod(at: int, utc_offset: int) -> float:
    """Hours since local midnight, by the offset the scanner reported."""
    minutes = at / 60_000_000 + utc_offset
    return (minutes % 1440) / 60
