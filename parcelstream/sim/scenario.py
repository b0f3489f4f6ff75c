"""A simulated scenario: packages registered and scans sent over some days of the network, in the
order they reach the server, with the ground truth of how each package's trip ended.

    scenario = generate(seed=7, start=datetime(2026, 11, 2, tzinfo=UTC), days=14,
                        packages_per_day=2000)
    for event in scenario.events(): ...        # SimPackage and SimScan, by send time
    scenario.truths                            # one Truth per package
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from parcelstream.sim.draws import SeededDraws, TypicalDraws
from parcelstream.sim.faults import Faults
from parcelstream.sim.journeys import Shipment, plan_journey
from parcelstream.sim.network import Metro, network
from parcelstream.sim.people import Shipper, address, make_shippers, recipient, ups_number
from parcelstream.sim.routes import stop_of
from parcelstream.sim.schedule import (
    EXPRESS_1DAY,
    EXPRESS_2DAY,
    GROUND,
    at_local,
    business_days_between,
    local_date,
    promised_by,
)
from parcelstream.sim.uploads import send_times, wire_scan

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SATURDAY_SHARE = 0.2
"""Saturday pickups as a share of a weekday's; nothing is picked up on Sundays."""
_SERVICE_MIX = ((GROUND, 0.75), (EXPRESS_2DAY, 0.13), (EXPRESS_1DAY, 0.12))
_PROMISE_QUANTILE = 0.8
_REFERENCE_TUESDAY = date(2026, 1, 13)
_US = 1_000_000


@dataclass(frozen=True, slots=True)
class SimPackage:
    body: dict[str, Any]
    """The exact JSON body for POST /v1/packages."""
    registered_at: datetime
    """Aware UTC, simulated time; also when it is sent."""

    @property
    def sent_at(self) -> datetime:
        return self.registered_at


@dataclass(frozen=True, slots=True)
class SimScan:
    body: dict[str, Any]
    """The exact wire scan for POST /v1/scans (timestamp with the facility's local offset)."""
    sent_at: datetime
    """Aware UTC, simulated time the scan reaches the server (late uploads, offline flushes and
    resends later than the event). Scans sharing a sent_at travel as one upload."""


Event = SimPackage | SimScan


@dataclass(frozen=True, slots=True)
class Truth:
    tracking_number: str
    service_level: str
    origin_region: str
    destination_region: str
    destination_zone: str
    """IANA zone name of the destination."""
    shipped_at: datetime
    """Pickup, UTC."""
    promised_by: datetime
    """End of the promised day in the destination's local time, as UTC."""
    outcome: str
    """"delivered", "returned", or "in_transit" (not finished when the scenario ends)."""
    delivered_at: datetime | None
    """The DELIVERED scan's event time; None unless delivered."""


@dataclass(frozen=True, slots=True)
class Header:
    seed: int
    start: datetime
    days: int
    packages_per_day: int
    faults: Faults

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)


@dataclass(slots=True)
class Scenario:
    header: Header
    _events: list[Event]
    truths: list[Truth]
    weather_days: list[tuple[str, date]] = field(default_factory=list)
    """(region, local date) on which weather stopped linehaul and deliveries there."""

    def events(self) -> Iterator[Event]:
        """Packages and scans in send order; a package comes before any scan of it."""
        return iter(self._events)

    def __iter__(self) -> Iterator[Event]:
        return iter(self._events)

    def __len__(self) -> int:
        return len(self._events)

    @property
    def packages(self) -> list[SimPackage]:
        return [e for e in self._events if isinstance(e, SimPackage)]

    @property
    def scans(self) -> list[SimScan]:
        return [e for e in self._events if isinstance(e, SimScan)]

    def save(self, path: Path) -> None:
        """Write the scenario file (JSON Lines; see parcelstream/sim/files.py)."""
        from parcelstream.sim.files import save_scenario

        save_scenario(self, path)

    @classmethod
    def load(cls, path: Path) -> Scenario:
        from parcelstream.sim.files import load_scenario

        return load_scenario(path)

    def write_truth(self, path: Path) -> None:
        """One Truth per line, JSON."""
        from parcelstream.sim.files import write_truths

        write_truths(self.truths, path)

    def journeys(self) -> dict[str, list[SimScan]]:
        """Each package's distinct scans in event order (resends dropped), by tracking number:
        what a carrier's own tracking API would show for it."""
        seen: set[tuple[str, str, str, str]] = set()
        found: dict[str, list[tuple[datetime, int, SimScan]]] = {}
        for index, event in enumerate(self._events):
            if isinstance(event, SimPackage):
                found.setdefault(event.body["tracking_number"], [])
                continue
            body = event.body
            key = (
                body["tracking_number"],
                body["facility_id"],
                body["timestamp"],
                body["status_code"],
            )
            if key in seen:
                continue
            seen.add(key)
            happened = datetime.fromisoformat(body["timestamp"])
            found.setdefault(body["tracking_number"], []).append((happened, index, event))
        return {tn: [scan for _, _, scan in sorted(items)] for tn, items in found.items()}


def generate(
    seed: int,
    start: datetime,
    days: int,
    packages_per_day: int,
    faults: Faults = Faults(),  # noqa: B008 - frozen, so one shared default is safe
) -> Scenario:
    """`days` days of traffic from `start` (aware): `packages_per_day` pickups each weekday (a
    fifth of that on Saturdays, none on Sundays), each followed through the network. Only what
    happens before the end of the last day is sent. The same arguments give the same scenario."""
    if start.tzinfo is None:
        raise ValueError("start must be an aware datetime")
    start = start.astimezone(UTC)
    header = Header(seed, start, days, packages_per_day, faults)
    builder = _Builder(header)
    builder.run()
    return Scenario(header, builder.sorted_events(), builder.truths, builder.weather_days())


class _Builder:
    def __init__(self, header: Header) -> None:
        self.header = header
        self.draws = SeededDraws(header.seed)
        self.net = network()
        self.start_s = header.start.timestamp()
        self.end_s = header.end.timestamp()
        rng = self.draws.rng
        self.shippers = make_shippers(rng, self.net.metros, max(40, header.packages_per_day // 8))
        self.shipper_weights = [1 / (rank + 1) ** 0.8 for rank in range(len(self.shippers))]
        self.metro_weights = [m.weight for m in self.net.metros]
        self.weather = self._draw_weather()
        self.events: list[tuple[int, int, int, Event]] = []
        self.truths: list[Truth] = []

    def _draw_weather(self) -> frozenset[tuple[str, date]]:
        rate = self.header.faults.weather_days_per_month / 30
        first = self.header.start.date() - timedelta(days=1)
        days = self.header.days + 40  # journeys run past the end
        return frozenset(
            (region, first + timedelta(days=n))
            for region in self.net.regions
            for n in range(days)
            if self.draws.keyed("weather", region, first + timedelta(days=n)) < rate
        )

    def weather_days(self) -> list[tuple[str, date]]:
        last = self.header.end.date()
        return sorted(w for w in self.weather if w[1] <= last)

    def run(self) -> None:
        rng = self.draws.rng
        for offset in range(self.header.days):
            day = self.header.start.date() + timedelta(days=offset)
            weekday = day.weekday()
            if weekday == 6:
                continue
            count = self.header.packages_per_day
            if weekday == 5:
                count = round(count * _SATURDAY_SHARE)
            for _ in range(count):
                shipper = rng.choices(self.shippers, self.shipper_weights)[0]
                destination = rng.choices(self.net.metros, self.metro_weights)[0]
                service = GROUND
                if weekday < 5:
                    service = rng.choices(
                        [s for s, _ in _SERVICE_MIX], [w for _, w in _SERVICE_MIX]
                    )[0]
                if service == GROUND:
                    hour = rng.triangular(8.5, 17.5, 13.0)
                else:  # express is picked up earlier in the day, to make the evening flight
                    hour = rng.triangular(8.5, 16.0, 11.5)
                pickup_at = at_local(shipper.metro.zone, day, hour) + rng.randrange(60)
                self._package(shipper, destination, service, pickup_at)

    def _package(
        self, shipper: Shipper, destination: Metro, service: str, pickup_at: float
    ) -> None:
        rng, header, draws = self.draws.rng, self.header, self.draws
        origin = shipper.metro
        serial = shipper.next_serial
        shipper.next_serial += 1
        number = ups_number(shipper.account, service, serial)
        to_address = address(rng, destination)
        body: dict[str, Any] = {
            "tracking_number": number,
            "carrier": "ups",
            "service_type": service,
            "shipper": {"name": shipper.name, "email": shipper.email, "phone": shipper.phone},
            "recipient": recipient(rng),
            "origin": shipper.address,
            "destination": to_address,
            "weight": {"value": round(rng.lognormvariate(1.0, 0.9), 1) + 0.1, "unit": "lb"},
        }
        registered = pickup_at - rng.uniform(0.5, 18.0) * 3600
        spread = rng.random()
        if registered < self.start_s:  # labels made before the scenario: spread, not all at start
            registered = self.start_s + (pickup_at - self.start_s) * spread * 0.5
        ground_days = _ground_days(origin.code, destination.code)
        shipment = Shipment(
            origin=origin,
            destination=destination,
            service=service,
            pickup_at=pickup_at,
            pickup_point=rng.choice(origin.pickups),
            stop=stop_of(destination, to_address["postal_code"]),
            use_air=origin is not destination
            and (service == EXPRESS_1DAY or (service == EXPRESS_2DAY and ground_days > 2)),
        )
        if pickup_at < self.start_s or pickup_at >= self.end_s:
            return
        journey = plan_journey(
            shipment,
            draws,
            self.weather,
            header.faults.failed_attempt_rate,
            header.faults.return_to_sender_rate,
        )
        registered_us = round(registered * _US)
        self._add(registered_us, 0, SimPackage(body, _utc_us(registered_us)))
        for step in journey.steps:
            if step.at >= self.end_s:
                break
            scan = wire_scan(number, step, to_address)
            for sent in send_times(step, header.faults, draws):
                self._add(sent, 1, SimScan(scan, _utc_us(sent)))
        promise_days = {GROUND: ground_days, EXPRESS_2DAY: 2, EXPRESS_1DAY: 1}[service]
        zone = destination.station.zone
        pickup_day = local_date(pickup_at, origin.zone)
        if journey.delivered_at is not None and journey.delivered_at < self.end_s:
            outcome, delivered = "delivered", _utc(journey.delivered_at)
        elif journey.returned_at is not None and journey.returned_at < self.end_s:
            outcome, delivered = "returned", None
        else:
            outcome, delivered = "in_transit", None
        self.truths.append(
            Truth(
                tracking_number=number,
                service_level=service,
                origin_region=origin.region,
                destination_region=destination.region,
                destination_zone=zone.key,
                shipped_at=_utc(int(pickup_at)),
                promised_by=_utc(promised_by(pickup_day, promise_days, zone)),
                outcome=outcome,
                delivered_at=delivered,
            )
        )

    def _add(self, sent_us: int, kind: int, event: Event) -> None:
        self.events.append((sent_us, kind, len(self.events), event))

    def sorted_events(self) -> list[Event]:
        self.events.sort(key=lambda item: item[:3])
        return [item[3] for item in self.events]


@cache
def _ground_days(origin_code: str, destination_code: str) -> int:
    """Ground's promise on a lane: the business days a somewhat unlucky trip takes, 1 to 5."""
    net = network()
    origin, destination = net.metro(origin_code), net.metro(destination_code)
    pickup_at = at_local(origin.zone, _REFERENCE_TUESDAY, 14.0)
    stop = stop_of(destination, destination.station.postal_code)
    shipment = Shipment(origin, destination, GROUND, pickup_at, origin.pickups[0], stop, False)
    journey = plan_journey(shipment, TypicalDraws(_PROMISE_QUANTILE), frozenset(), 0.0, 0.0)
    assert journey.delivered_at is not None
    delivered_day = local_date(journey.delivered_at, destination.zone)
    return min(5, max(1, business_days_between(_REFERENCE_TUESDAY, delivered_day)))


def _utc(seconds: float) -> datetime:
    return _utc_us(round(seconds * _US))


def _utc_us(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)
