"""Turns one decoded wire item into a domain object, or into every reason it was refused."""

from __future__ import annotations

import re

from parcelstream.domain.contacts import E164_HINT, EMAIL_HINT, is_e164, is_email
from parcelstream.domain.errors import Rejection
from parcelstream.domain.numbers import CARRIERS, detect, normalize
from parcelstream.domain.packages import Address, Contact, Package
from parcelstream.domain.proof import GeoPoint, Proof
from parcelstream.domain.scans import SCAN_CODES, Location, Scan, ScanCode
from parcelstream.domain.times import BadTimestamp, parse_instant
from parcelstream.ingest.schemas import (
    AddressIn,
    ContactIn,
    LocationIn,
    PackageIn,
    ProofIn,
    ScanIn,
)

_MAX_FUTURE_US = 24 * 3600 * 1_000_000
_MAX_AGE_US = 2 * 366 * 86400 * 1_000_000
_EXCEPTION_CODE = re.compile(r"^[A-Z][A-Z0-9_]*$")
_SCAN_CODES = ", ".join(code.value for code in ScanCode)
_GRAMS_PER_UNIT = {"g": 1.0, "kg": 1000.0, "lb": 453.59237, "oz": 28.349523125}

Invalid = list[Rejection]


def tracking_number_problem(raw: str, field: str = "tracking_number") -> Rejection | None:
    if not detect(raw).valid:
        return Rejection(
            field,
            f"not a valid tracking number for any supported carrier ({', '.join(CARRIERS)}):"
            " wrong length, format or check digit",
            "invalid_tracking_number",
        )
    return None


def scan_from_wire(item: ScanIn, now_us: int) -> Scan | Invalid:
    problems: Invalid = []
    number = normalize(item.tracking_number)
    bad_number = tracking_number_problem(number)
    if bad_number:
        problems.append(bad_number)
    code = SCAN_CODES.get(item.status_code)
    if code is None:
        problems.append(Rejection("status_code", f"unknown status code; one of {_SCAN_CODES}"))
    occurred_at = offset = 0
    try:
        occurred_at, offset = parse_instant(item.timestamp)
    except BadTimestamp as exc:
        problems.append(Rejection("timestamp", str(exc)))
    else:
        if occurred_at > now_us + _MAX_FUTURE_US:
            problems.append(Rejection("timestamp", "more than 24 hours in the future"))
        elif occurred_at < now_us - _MAX_AGE_US:
            problems.append(Rejection("timestamp", "more than two years in the past"))
    if item.exception_code is not None and not _EXCEPTION_CODE.match(item.exception_code):
        problems.append(
            Rejection("exception_code", "upper-case letters, digits and _ only, e.g. WEATHER_DELAY")
        )
    if code is ScanCode.EXCEPTION and item.exception_code is None:
        problems.append(
            Rejection(
                "exception_code", "is required with EXCEPTION (e.g. WEATHER_DELAY)", "missing"
            )
        )
    if item.proof is not None and code is not None and code is not ScanCode.DELIVERED:
        problems.append(
            Rejection(
                "proof", "only a DELIVERED scan carries proof of delivery", "proof_not_allowed"
            )
        )
    if problems or code is None:
        return problems
    return Scan(
        tracking_number=number,
        facility_id=item.facility_id,
        occurred_at=occurred_at,
        utc_offset=offset,
        status_code=code,
        exception_code=item.exception_code,
        employee_id=item.employee_id,
        location=_location(item.location),
        proof=_proof(item.proof),
    )


def package_from_wire(item: PackageIn, now_us: int) -> Package | Invalid:
    problems: Invalid = []
    number = normalize(item.tracking_number)
    carrier = item.carrier.lower() if item.carrier else None
    detection = detect(number)
    if not detection.valid:
        problems.append(tracking_number_problem(number) or Rejection("tracking_number", "invalid"))
    elif carrier is not None and carrier not in CARRIERS:
        problems.append(Rejection("carrier", f"unknown carrier; one of {', '.join(CARRIERS)}"))
    elif carrier is None and detection.ambiguous:
        problems.append(
            Rejection(
                "carrier",
                f"the number fits several carriers ({', '.join(detection.carriers)}): name one",
                "ambiguous_carrier",
            )
        )
    for role, contact in (("shipper", item.shipper), ("recipient", item.recipient)):
        problems.extend(_contact_problems(role, contact))
    weight_grams = None
    if item.weight is not None:
        factor = _GRAMS_PER_UNIT.get(item.weight.unit.lower())
        if factor is None:
            problems.append(Rejection("weight.unit", "one of g, kg, lb, oz"))
        else:
            weight_grams = max(1, round(item.weight.value * factor))
    if problems:
        return problems
    return Package(
        tracking_number=number,
        registered_at=now_us,
        carrier=carrier or detection.carrier,
        service_type=item.service_type,
        shipper=_contact(item.shipper),
        recipient=_contact(item.recipient),
        origin=_address(item.origin),
        destination=_address(item.destination),
        weight_grams=weight_grams,
    )


def _contact_problems(role: str, contact: ContactIn | None) -> Invalid:
    if contact is None:
        return []
    problems: Invalid = []
    if contact.email is not None and not is_email(contact.email):
        problems.append(Rejection(f"{role}.email", EMAIL_HINT))
    if contact.phone is not None and not is_e164(contact.phone):
        problems.append(Rejection(f"{role}.phone", E164_HINT))
    return problems


def _location(loc: LocationIn | None) -> Location | None:
    if loc is None:
        return None
    country = loc.country.upper() if loc.country else None
    return Location(loc.city, loc.region, loc.postal_code, country)


def _proof(proof: ProofIn | None) -> Proof | None:
    if proof is None:
        return None
    signed_by = (proof.signed_by or "").strip() or None
    left_at = (proof.left_at or "").strip() or None
    where = proof.location
    if signed_by is None and left_at is None and where is None:
        return None
    return Proof(
        signed_by=signed_by,
        location=GeoPoint(where.latitude, where.longitude, where.accuracy_m) if where else None,
        left_at=left_at,
    )


def _contact(contact: ContactIn | None) -> Contact | None:
    if contact is None:
        return None
    return Contact(
        contact.name,
        contact.email,
        contact.phone,
        tuple(contact.notify) if contact.notify is not None else None,
        tuple(contact.milestones) if contact.milestones is not None else None,
    )


def _address(address: AddressIn | None) -> Address | None:
    if address is None:
        return None
    country = address.country.upper() if address.country else None
    return Address(
        address.line1, address.line2, address.city, address.region, address.postal_code, country
    )
