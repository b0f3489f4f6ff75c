"""Package master data as shippers register it: who, from where, to where, how heavy."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Contact:
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    notify: tuple[str, ...] | None = None
    """Channels this contact is told on automatically ("email", "sms"); None means the default
    (the recipient by e-mail and SMS where given, the shipper not at all); () means never."""
    milestones: tuple[str, ...] | None = None
    """Which milestones; None means all of them."""


@dataclass(frozen=True, slots=True)
class Address:
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None


@dataclass(frozen=True, slots=True)
class Package:
    tracking_number: str
    registered_at: int
    """UTC epoch microseconds at which the registration was accepted."""
    carrier: str | None = None
    service_type: str | None = None
    shipper: Contact | None = None
    recipient: Contact | None = None
    origin: Address | None = None
    destination: Address | None = None
    weight_grams: int | None = None
