"""Who ships and who receives: shipper accounts, recipients, street addresses and UPS-format
tracking numbers for the simulated traffic. All names are invented; e-mail domains are the
reserved example domains and phone numbers the fictional 555-01xx range."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from parcelstream.domain.numbers import is_valid
from parcelstream.sim.network import Metro
from parcelstream.sim.routes import postal_code
from parcelstream.sim.schedule import UPS_SERVICE_CODES


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_FIRST = _words(
    "Dana Alex Jordan Morgan Casey Riley Avery Quinn Taylor Jamie Robin Drew Skyler Reese "
    "Parker Hayden Emerson Rowan Sage Finley Blake Cameron Elliot Harper Kendall Logan Micah "
    "Noel Peyton Remy Sawyer Tatum Lane Marlo Jesse Ari Kai Devon Shawn Lee"
)
_LAST = _words(
    "Whitfield Alvarez Nguyen Okafor Schmidt Patel Romano Kowalski Haddad Lindqvist Brennan "
    "Castillo Moreau Tanaka Osei Fischer Duarte Sullivan Novak Ibrahim Park Walsh Mendoza "
    "Larsen Chen Abernathy Rossi Delgado Hughes Vasquez Sato Morales Byrne Kim Olsen Reyes "
    "Fontaine"
)
_STREETS = _words(
    "Oak Maple Cedar Pine Elm Walnut Lake Hill River Park Church Mill Spring Ridge Meadow "
    "Sunset Highland Forest Willow Cherry Chestnut Jackson Lincoln Madison Washington "
    "Franklin"
)
_SUFFIXES = ("St", "Ave", "Rd", "Blvd", "Ln", "Dr", "Ct", "Way")
_COMPANY_A = _words("Blue Red North Summit Harbor Prairie Copper Maple Bright Golden Iron Coastal")
_COMPANY_B = _words(
    "Outfitters Supply Goods Books Labs Apparel Gear Pantry Home Tools Parts Studio"
)
_EXAMPLE_DOMAINS = ("example.com", "example.org", "example.net")
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


@dataclass(slots=True)
class Shipper:
    account: str
    """The six-character UPS shipper number its tracking numbers carry."""
    name: str
    metro: Metro
    address: dict[str, str]
    email: str
    phone: str
    next_serial: int


def ups_number(account: str, service: str, serial: int) -> str:
    """1Z + account + service digits + seven-digit package id + the UPS mod-10 check digit."""
    body = f"{account}{UPS_SERVICE_CODES[service]}{serial:07d}"
    total = 0
    for position, char in enumerate(body, start=1):
        value = (ord(char) - 3) % 10 if char.isalpha() else int(char)
        total += value * (2 if position % 2 == 0 else 1)
    number = f"1Z{body}{-total % 10}"
    if not is_valid(number, "ups"):  # the formats data is the authority; never send a bad one
        raise AssertionError(f"built an invalid UPS number {number}")
    return number


def make_shippers(rng: random.Random, metros: tuple[Metro, ...], count: int) -> list[Shipper]:
    shippers: list[Shipper] = []
    accounts: set[str] = set()
    weights = [m.weight for m in metros]
    while len(shippers) < count:
        account = "".join(rng.choice(_ALNUM) for _ in range(6))
        if account in accounts:
            continue
        accounts.add(account)
        metro = rng.choices(metros, weights)[0]
        name = f"{rng.choice(_COMPANY_A)} {rng.choice(_COMPANY_B)}"
        slug = name.lower().replace(" ", "")
        shippers.append(
            Shipper(
                account=account,
                name=name,
                metro=metro,
                address=address(rng, metro),
                email=f"shipping@{slug}.{rng.choice(_EXAMPLE_DOMAINS)}",
                phone=phone(rng),
                next_serial=rng.randrange(1_000_000, 5_000_000),
            )
        )
    return shippers


def address(rng: random.Random, metro: Metro) -> dict[str, str]:
    return {
        "line1": f"{rng.randrange(1, 9999)} {rng.choice(_STREETS)} {rng.choice(_SUFFIXES)}",
        "city": metro.city,
        "region": metro.region,
        "postal_code": postal_code(rng, metro),
        "country": "US",
    }


def phone(rng: random.Random) -> str:
    return f"+1{rng.randrange(201, 989)}55501{rng.randrange(0, 100):02d}"


def recipient(rng: random.Random) -> dict[str, Any]:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    mailbox = f"{first.lower()}.{last.lower()}{rng.randrange(100)}"
    contact: dict[str, Any] = {
        "name": f"{first} {last}",
        "email": f"{mailbox}@{rng.choice(_EXAMPLE_DOMAINS)}",
    }
    if rng.random() < 0.6:
        contact["phone"] = phone(rng)
    return contact
