"""The public tracking document: what GET /v1/track returns, rendered once per change.

It never carries a name, street, phone number, e-mail address or postal code: locations are
city-level, and employee ids stay internal. Of a proof of delivery it says only that it exists,
when, and what it holds; the signer, the GPS point and the images are behind pod/access.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from hashlib import blake2b
from zoneinfo import ZoneInfo

import msgspec

from parcelstream.domain.delivery import proof_scan
from parcelstream.domain.estimate import Estimate, EstimateRecord
from parcelstream.domain.packages import Address, Package
from parcelstream.domain.scans import Location, Scan
from parcelstream.domain.status import STATUS_OF, PackageState, describe


class City(msgspec.Struct):
    city: str | None
    region: str | None
    country: str | None


class Event(msgspec.Struct):
    timestamp: datetime
    status_code: str
    status: str
    exception_code: str | None
    facility_id: str
    location: City | None
    description: str
    after_delivery: bool


class ProofSummary(msgspec.Struct, omit_defaults=True):
    available: bool
    delivered_at: datetime
    signature: bool
    """A signature image or a signer's name was taken."""
    photos: int
    left_at: str | None = None


class TrackingDocument(msgspec.Struct):
    tracking_number: str
    carrier: str | None
    service_type: str | None
    status: str
    status_detail: str | None
    last_location: City | None
    origin: City | None
    destination: City | None
    estimated_delivery: msgspec.Raw | None
    """Rendered by the EDD worker (`render_estimate`) and carried in as stored bytes."""
    last_updated: datetime | None
    events: list[Event]
    proof_of_delivery: ProofSummary | None


# Structs and aware datetimes go straight to RFC 3339 JSON in C; the processor renders every
# changed package's whole history, so this is its hottest code.
_encoder = msgspec.json.Encoder()
_zones: dict[int, timezone] = {0: UTC}


class OriginalEstimate(msgspec.Struct):
    date: str
    earliest: datetime
    latest: datetime
    source: str


class EstimatedDelivery(msgspec.Struct):
    """`estimated_delivery`: the date and window in the destination's zone, how sure, from what,
    and the first estimate ever given beside it."""

    date: str
    earliest: datetime
    latest: datetime
    confidence: float
    source: str
    time_zone: str
    original: OriginalEstimate


_patchable = msgspec.json.Decoder(dict[str, msgspec.Raw])


def render_estimate(record: EstimateRecord) -> bytes:
    latest, original = record.latest, record.original
    zone = ZoneInfo(latest.zone)
    return _encoder.encode(
        EstimatedDelivery(
            date=latest.date,
            earliest=_in_zone(latest.earliest, zone),
            latest=_in_zone(latest.latest, zone),
            confidence=latest.confidence,
            source=latest.source,
            time_zone=latest.zone,
            original=_original(original),
        )
    )


def patch_estimate(document: bytes, estimate: bytes | None) -> tuple[bytes, str]:
    """The document with `estimated_delivery` replaced, every other field kept byte for byte
    (whatever fields it has), and its new etag."""
    fields = _patchable.decode(document)
    fields["estimated_delivery"] = msgspec.Raw(estimate if estimate is not None else b"null")
    body = _encoder.encode(fields)
    return body, etag_of(body)


def _original(original: Estimate) -> OriginalEstimate:
    zone = ZoneInfo(original.zone)
    return OriginalEstimate(
        date=original.date,
        earliest=_in_zone(original.earliest, zone),
        latest=_in_zone(original.latest, zone),
        source=original.source,
    )


def _in_zone(micros: int, zone: ZoneInfo) -> datetime:
    seconds, fraction = divmod(micros, 1_000_000)
    return datetime.fromtimestamp(seconds, zone).replace(microsecond=fraction)


def render_document(
    tracking_number: str,
    carrier: str | None,
    package: Package | None,
    state: PackageState,
    estimate: bytes | None = None,
) -> bytes:
    flagged = state.after_delivery
    events = [
        Event(
            timestamp=_local_time(scan.occurred_at, scan.utc_offset),
            status_code=scan.status_code,
            status=STATUS_OF[scan.status_code],
            exception_code=scan.exception_code,
            facility_id=scan.facility_id,
            location=_city(scan.location),
            description=describe(scan),
            after_delivery=bool(flagged) and scan.dedup_key in flagged,
        )
        for scan in reversed(state.history)
    ]
    return _encoder.encode(
        TrackingDocument(
            tracking_number=tracking_number,
            carrier=carrier,
            service_type=package.service_type if package else None,
            status=state.status,
            status_detail=state.status_detail,
            last_location=_city(state.last_location),
            origin=_city(package.origin) if package else None,
            destination=_city(package.destination) if package else None,
            estimated_delivery=msgspec.Raw(estimate) if estimate is not None else None,
            last_updated=_last_updated(state.history, package),
            events=events,
            proof_of_delivery=_proof_summary(state.history),
        )
    )


def _proof_summary(history: tuple[Scan, ...]) -> ProofSummary | None:
    scan = proof_scan(history)
    if scan is None or scan.proof is None:
        return None
    proof = scan.proof
    kinds = [file.kind for file in proof.files]
    return ProofSummary(
        available=True,
        delivered_at=_local_time(scan.occurred_at, scan.utc_offset),
        signature=proof.signed_by is not None or "signature" in kinds,
        photos=kinds.count("photo"),
        left_at=proof.left_at,
    )


def etag_of(body: bytes) -> str:
    return '"' + blake2b(body, digest_size=12).hexdigest() + '"'


def _last_updated(history: tuple[Scan, ...], package: Package | None) -> datetime | None:
    if history:
        return _local_time(history[-1].occurred_at, history[-1].utc_offset)
    return _local_time(package.registered_at, 0) if package is not None else None


def _local_time(micros: int, offset_minutes: int) -> datetime:
    zone = _zones.get(offset_minutes)
    if zone is None:
        zone = _zones.setdefault(offset_minutes, timezone(timedelta(minutes=offset_minutes)))
    seconds, fraction = divmod(micros, 1_000_000)
    return datetime.fromtimestamp(seconds, zone).replace(microsecond=fraction)


def _city(place: Location | Address | None) -> City | None:
    if place is None or (place.city is None and place.region is None and place.country is None):
        return None
    return City(place.city, place.region, place.country)
