"""How scans and master data are laid out in relational rows, shared by the SQL adapters."""

from __future__ import annotations

from typing import Any

import msgspec

from parcelstream.domain.estimate import EstimateRecord
from parcelstream.domain.milestones import Occurrence
from parcelstream.domain.notifications import Outgoing, PlannedDelivery
from parcelstream.domain.packages import Package
from parcelstream.domain.scans import SCAN_CODES, Location, Scan
from parcelstream.domain.status import Status

STATUSES: dict[str, Status] = {status.value: status for status in Status}

SCAN_COLUMNS = (
    "tracking_number, occurred_at, facility_id, status_code, utc_offset, exception_code,"
    " employee_id, city, region, postal_code, country"
)

_package_encoder = msgspec.msgpack.Encoder()
_package_decoder = msgspec.msgpack.Decoder(Package)
_estimate_decoder = msgspec.msgpack.Decoder(EstimateRecord)
_NO_LOCATION = Location()


def scan_row(scan: Scan) -> tuple[Any, ...]:
    """The scan as a row, columns in SCAN_COLUMNS order."""
    loc = scan.location or _NO_LOCATION
    return (
        scan.tracking_number,
        scan.occurred_at,
        scan.facility_id,
        scan.status_code,
        scan.utc_offset,
        scan.exception_code,
        scan.employee_id,
        loc.city,
        loc.region,
        loc.postal_code,
        loc.country,
    )


def scan_from_row(row: Any) -> Scan:
    tn, at, facility, code, offset, exc, employee, city, region, postal, country = row
    location = (
        Location(city, region, postal, country)
        if city is not None or region is not None or postal is not None or country is not None
        else None
    )
    return Scan(
        tracking_number=tn,
        facility_id=facility,
        occurred_at=at,
        utc_offset=offset,
        status_code=SCAN_CODES[code],
        exception_code=exc,
        employee_id=employee,
        location=location,
    )


MILESTONE_COLUMNS = (
    "tracking_number, milestone, number, detail, occurred_at, utc_offset, city, region, country"
)


def milestone_row(occurrence: Occurrence) -> tuple[Any, ...]:
    """The occurrence as a row, columns in MILESTONE_COLUMNS order (city-level place only)."""
    loc = occurrence.location or _NO_LOCATION
    return (
        occurrence.tracking_number,
        occurrence.milestone,
        occurrence.number,
        occurrence.detail,
        occurrence.occurred_at,
        occurrence.utc_offset,
        loc.city,
        loc.region,
        loc.country,
    )


def milestone_from_row(row: Any) -> Occurrence:
    tn, milestone, number, detail, at, offset, city, region, country = row
    place = Location(city, region, None, country) if city or region or country else None
    return Occurrence(tn, STATUSES.get(milestone, milestone), number, detail, at, offset, place)


def planned_row(p: PlannedDelivery, key: tuple[str, str, int], now: int) -> tuple[Any, ...]:
    """A planned delivery as a row of the deliveries table (due at once)."""
    tn, milestone, number = key
    return (p.event_id, tn, milestone, number, p.subscription_id, p.channel, p.address, now, now)


def outgoing_from_row(row: Any) -> Outgoing:
    """delivery_id, event_id, subscription_id, channel, address, attempts, created_at, then the
    milestone's MILESTONE_COLUMNS."""
    return Outgoing(
        delivery_id=row[0],
        event_id=row[1],
        subscription_id=row[2],
        channel=row[3],
        address=row[4],
        attempts=row[5],
        occurrence=milestone_from_row(tuple(row[7:])),
        created_at=row[6],
    )


def encode_package(package: Package) -> bytes:
    return _package_encoder.encode(package)


def decode_package(blob: bytes) -> Package:
    return _package_decoder.decode(blob)


def encode_estimate(record: EstimateRecord) -> bytes:
    return _package_encoder.encode(record)


def decode_estimate(blob: bytes) -> EstimateRecord:
    return _estimate_decoder.decode(blob)
