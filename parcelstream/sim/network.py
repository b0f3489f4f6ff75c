"""The simulated carrier's network as data: metro areas (pickup points, a sort centre, a delivery
station each), regional ground hubs, one air hub, and the lanes between them with their transit
times. The network is fixed; only the traffic over it depends on a scenario's seed."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from zoneinfo import ZoneInfo

# code, city, region, IANA zone, latitude, longitude, ZIP prefix, share of parcel volume
_METROS: tuple[tuple[str, str, str, str, float, float, str, float], ...] = (
    ("ATL", "Atlanta", "GA", "America/New_York", 33.75, -84.39, "303", 3.0),
    ("BOS", "Boston", "MA", "America/New_York", 42.36, -71.06, "021", 2.5),
    ("NYC", "New York", "NY", "America/New_York", 40.71, -74.01, "100", 6.0),
    ("PHL", "Philadelphia", "PA", "America/New_York", 39.95, -75.17, "191", 3.0),
    ("DCA", "Washington", "DC", "America/New_York", 38.91, -77.04, "200", 3.0),
    ("CLT", "Charlotte", "NC", "America/New_York", 35.23, -80.84, "282", 1.5),
    ("MIA", "Miami", "FL", "America/New_York", 25.76, -80.19, "331", 3.0),
    ("MCO", "Orlando", "FL", "America/New_York", 28.54, -81.38, "328", 1.5),
    ("PIT", "Pittsburgh", "PA", "America/New_York", 40.44, -79.99, "152", 1.2),
    ("CLE", "Cleveland", "OH", "America/New_York", 41.50, -81.69, "441", 1.2),
    ("DTW", "Detroit", "MI", "America/Detroit", 42.33, -83.05, "482", 2.2),
    ("IND", "Indianapolis", "IN", "America/Indiana/Indianapolis", 39.77, -86.16, "462", 1.2),
    ("CHI", "Chicago", "IL", "America/Chicago", 41.88, -87.63, "606", 5.0),
    ("MSP", "Minneapolis", "MN", "America/Chicago", 44.98, -93.27, "554", 2.0),
    ("STL", "St. Louis", "MO", "America/Chicago", 38.63, -90.20, "631", 1.5),
    ("MCI", "Kansas City", "MO", "America/Chicago", 39.10, -94.58, "641", 1.2),
    ("BNA", "Nashville", "TN", "America/Chicago", 36.16, -86.78, "372", 1.2),
    ("MSY", "New Orleans", "LA", "America/Chicago", 29.95, -90.07, "701", 0.8),
    ("DAL", "Dallas", "TX", "America/Chicago", 32.78, -96.80, "752", 4.0),
    ("HOU", "Houston", "TX", "America/Chicago", 29.76, -95.37, "770", 3.5),
    ("SAT", "San Antonio", "TX", "America/Chicago", 29.42, -98.49, "782", 1.5),
    ("DEN", "Denver", "CO", "America/Denver", 39.74, -104.99, "802", 1.8),
    ("SLC", "Salt Lake City", "UT", "America/Denver", 40.76, -111.89, "841", 0.8),
    ("ABQ", "Albuquerque", "NM", "America/Denver", 35.08, -106.65, "871", 0.6),
    ("PHX", "Phoenix", "AZ", "America/Phoenix", 33.45, -112.07, "850", 2.5),
    ("LAS", "Las Vegas", "NV", "America/Los_Angeles", 36.17, -115.14, "891", 1.3),
    ("LAX", "Los Angeles", "CA", "America/Los_Angeles", 34.05, -118.24, "900", 6.5),
    ("SAN", "San Diego", "CA", "America/Los_Angeles", 32.72, -117.16, "921", 1.8),
    ("SFO", "San Francisco", "CA", "America/Los_Angeles", 37.77, -122.42, "941", 3.5),
    ("SEA", "Seattle", "WA", "America/Los_Angeles", 47.61, -122.33, "981", 2.5),
    ("PDX", "Portland", "OR", "America/Los_Angeles", 45.52, -122.68, "972", 1.3),
)

# Regional ground hubs: code, city, region, zone, latitude, longitude, ZIP
_HUBS: tuple[tuple[str, str, str, str, float, float, str], ...] = (
    ("HAR", "Harrisburg", "PA", "America/New_York", 40.27, -76.88, "17111"),
    ("ATH", "Atlanta", "GA", "America/New_York", 33.65, -84.42, "30354"),
    ("HOD", "Hodgkins", "IL", "America/Chicago", 41.77, -87.86, "60525"),
    ("MES", "Mesquite", "TX", "America/Chicago", 32.77, -96.60, "75149"),
    ("DNH", "Commerce City", "CO", "America/Denver", 39.81, -104.93, "80022"),
    ("ONT", "Ontario", "CA", "America/Los_Angeles", 34.06, -117.60, "91761"),
    ("KNT", "Kent", "WA", "America/Los_Angeles", 47.38, -122.23, "98032"),
)
_AIR_HUB = ("SDF", "Louisville", "KY", "America/Kentucky/Louisville", 38.17, -85.74, "40209")

PICKUP_POINTS_PER_METRO = 4
DELIVERY_ROUTES_PER_STATION = 12

_ROAD_FACTOR = 1.18  # road miles per great-circle mile
_TRUCK_MPH = 48.0
_DOCK_HOURS = 0.75
_AIR_MPH = 470.0
_TAXI_HOURS = 0.5
_AIRPORT_TRUCK_HOURS = 0.75


@dataclass(frozen=True, slots=True)
class Facility:
    facility_id: str
    kind: str
    """"pickup", "sort", "hub", "air" or "station"."""
    city: str
    region: str
    postal_code: str
    zone: ZoneInfo
    lat: float
    lon: float

    def location(self) -> dict[str, str]:
        return {
            "city": self.city,
            "region": self.region,
            "postal_code": self.postal_code,
            "country": "US",
        }


@dataclass(frozen=True, slots=True)
class Metro:
    code: str
    city: str
    region: str
    zone: ZoneInfo
    zip3: str
    weight: float
    pickups: tuple[Facility, ...]
    sort: Facility
    station: Facility
    hub: Facility
    """The regional ground hub this metro's sort centre and station work with."""


@dataclass(frozen=True, slots=True)
class Lane:
    """A scheduled connection: its median transit and how much single trips vary around it."""

    origin: Facility
    destination: Facility
    hours: float
    sigma: float
    """Spread of the log-normal factor one trip's transit is multiplied by."""
    air: bool


@dataclass(frozen=True, slots=True)
class Network:
    metros: tuple[Metro, ...]
    hubs: tuple[Facility, ...]
    air_hub: Facility
    by_code: Mapping[str, Metro] = field(compare=False, hash=False, repr=False)

    def metro(self, code: str) -> Metro:
        return self.by_code[code]

    @property
    def regions(self) -> tuple[str, ...]:
        found = {m.region for m in self.metros} | {h.region for h in self.hubs}
        return tuple(sorted(found | {self.air_hub.region}))


def _facility(
    facility_id: str, kind: str, row: tuple[str, str, str, str, float, float], postal: str
) -> Facility:
    _, city, region, zone, lat, lon = row
    return Facility(facility_id, kind, city, region, postal, ZoneInfo(zone), lat, lon)


@cache
def network() -> Network:
    """The carrier's network (built once)."""
    hubs = tuple(
        _facility(f"{code}-HUB-01", "hub", (code, city, region, zone, lat, lon), postal)
        for code, city, region, zone, lat, lon, postal in _HUBS
    )
    code, city, region, zone, lat, lon, postal = _AIR_HUB
    air_hub = _facility(f"{code}-AIR-01", "air", (code, city, region, zone, lat, lon), postal)
    metros = []
    for code, city, region, zone, lat, lon, zip3, weight in _METROS:
        row = (code, city, region, zone, lat, lon)
        pickups = tuple(
            _facility(f"{code}-PUP-{n:02d}", "pickup", row, f"{zip3}{10 + 7 * n:02d}")
            for n in range(1, PICKUP_POINTS_PER_METRO + 1)
        )
        sort = _facility(f"{code}-SORT-01", "sort", row, f"{zip3}90")
        station = _facility(f"{code}-DS-01", "station", row, f"{zip3}60")
        hub = min(hubs, key=lambda h: miles(sort, h))
        metros.append(
            Metro(code, city, region, ZoneInfo(zone), zip3, weight, pickups, sort, station, hub)
        )
    return Network(tuple(metros), hubs, air_hub, {m.code: m for m in metros})


def miles(a: Facility, b: Facility) -> float:
    """Great-circle distance in statute miles."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a.lat, a.lon, b.lat, b.lon))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 3958.8 * 2 * math.asin(math.sqrt(h))


_lanes: dict[tuple[str, str], Lane] = {}


def lane(origin: Facility, destination: Facility) -> Lane:
    """The lane between two facilities. Each lane has its own character (a congested corridor, a
    mountain pass), fixed for the network: drawn from the lane's name, not the scenario's seed."""
    key = (origin.facility_id, destination.facility_id)
    found = _lanes.get(key)
    if found is None:
        found = _lanes[key] = _new_lane(origin, destination)
    return found


def _new_lane(origin: Facility, destination: Facility) -> Lane:
    character = random.Random(f"{origin.facility_id}>{destination.facility_id}")
    air = destination.kind == "air" or origin.kind == "air"
    distance = miles(origin, destination)
    if air:
        hours = distance / _AIR_MPH + _TAXI_HOURS + _AIRPORT_TRUCK_HOURS
        sigma = character.uniform(0.04, 0.08)
    else:
        hours = distance * _ROAD_FACTOR / _TRUCK_MPH + _DOCK_HOURS
        hours *= character.uniform(0.92, 1.15)
        sigma = character.uniform(0.05, 0.14)
    return Lane(origin, destination, hours, sigma, air)
