"""How scans and master data are laid out in relational rows, shared by the SQL adapters."""

from __future__ import annotations

from typing import Any

import msgspec

from parcelstream.domain.estimate import EstimateRecord
from parcelstream.domain.milestones import Occurrence
from parcelstream.domain.notifications import Outgoing, PlannedDelivery
from parcelstream.domain.packages import Package
from parcelstream.domain.polling import PollState
from parcelstream.domain.proof import DeliveryWindow, GeoPoint, Proof, ProofFile
from parcelstream.domain.scans import SCAN_CODES, Location, Scan
from parcelstream.domain.status import Status

STATUSES: dict[str, Status] = {status.value: status for status in Status}

SCAN_COLUMNS = (
    "tracking_number, occurred_at, facility_id, status_code, utc_offset, exception_code,"
    " employee_id, city, region, postal_code, country, extras, detail"
)

_package_encoder = msgspec.msgpack.Encoder()
_package_decoder = msgspec.msgpack.Decoder(Package)
_estimate_decoder = msgspec.msgpack.Decoder(EstimateRecord)
_NO_LOCATION = Location()


# A scan's rare parts (proof of delivery, a carrier's window) share one nullable column, as
# compact MessagePack arrays: an ordinary scan stores nothing for them. Fields may only be added
# at the end, with defaults, so older rows still decode.
class _FileRow(msgspec.Struct, array_like=True, omit_defaults=True):
    kind: str
    sha256: bytes
    content_type: str
    size: int
    suffix: str = ""
    """What follows `proof/<tn>/<sha256>` in the usual key (".png")…"""
    key: str | None = None
    """…or the whole key, when it is not of that form."""


class _ProofRow(msgspec.Struct, array_like=True, omit_defaults=True):
    signed_by: str | None = None
    files: list[_FileRow] = []
    location: tuple[float, float, float | None] | None = None
    left_at: str | None = None


class _ExtrasRow(msgspec.Struct, array_like=True, omit_defaults=True):
    proof: _ProofRow | None = None
    carrier_window: tuple[int, int] | None = None


_extras_encoder = msgspec.msgpack.Encoder()
_extras_decoder = msgspec.msgpack.Decoder(_ExtrasRow)


def encode_extras(scan: Scan) -> bytes | None:
    """The scan's proof and carrier window as one small blob; None when it has neither."""
    proof, window = scan.proof, scan.carrier_window
    if proof is None and window is None:
        return None
    proof_row = None
    if proof is not None:
        where = proof.location
        proof_row = _ProofRow(
            proof.signed_by,
            [_file_row(scan.tracking_number, f) for f in proof.files],
            (where.latitude, where.longitude, where.accuracy_m) if where else None,
            proof.left_at,
        )
    return _extras_encoder.encode(
        _ExtrasRow(proof_row, (window.earliest, window.latest) if window else None)
    )


def decode_extras(tracking_number: str, blob: bytes) -> tuple[Proof | None, DeliveryWindow | None]:
    row = _extras_decoder.decode(blob)
    proof = None
    if row.proof is not None:
        p = row.proof
        proof = Proof(
            signed_by=p.signed_by,
            files=tuple(_proof_file(tracking_number, f) for f in p.files),
            location=GeoPoint(*p.location) if p.location else None,
            left_at=p.left_at,
        )
    window = DeliveryWindow(*row.carrier_window) if row.carrier_window else None
    return proof, window


def _file_row(tracking_number: str, file: ProofFile) -> _FileRow:
    # The usual key repeats the tracking number and the digest: keep only what it adds.
    usual = f"proof/{tracking_number}/{file.sha256}"
    try:
        digest = bytes.fromhex(file.sha256)
    except ValueError:
        digest = b""
    if len(digest) == 32 and digest.hex() == file.sha256 and file.key.startswith(usual):
        return _FileRow(file.kind, digest, file.content_type, file.size, file.key[len(usual) :])
    return _FileRow(file.kind, file.sha256.encode(), file.content_type, file.size, "", file.key)


def _proof_file(tracking_number: str, row: _FileRow) -> ProofFile:
    if row.key is not None:
        return ProofFile(row.kind, row.key, row.sha256.decode(), row.content_type, row.size)
    sha256 = row.sha256.hex()
    key = f"proof/{tracking_number}/{sha256}{row.suffix}"
    return ProofFile(row.kind, key, sha256, row.content_type, row.size)


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
        encode_extras(scan),
        scan.detail,
    )


def scan_from_row(row: Any) -> Scan:
    (
        tn,
        at,
        facility,
        code,
        offset,
        exc,
        employee,
        city,
        region,
        postal,
        country,
        extras,
        detail,
    ) = row
    location = (
        Location(city, region, postal, country)
        if city is not None or region is not None or postal is not None or country is not None
        else None
    )
    proof, window = decode_extras(tn, extras) if extras is not None else (None, None)
    return Scan(
        tracking_number=tn,
        facility_id=facility,
        occurred_at=at,
        utc_offset=offset,
        status_code=SCAN_CODES[code],
        exception_code=exc,
        employee_id=employee,
        location=location,
        proof=proof,
        carrier_window=window,
        detail=detail,
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


POLL_COLUMNS = (
    "tracking_number, carrier, heard_at, status, event_at, polled_at, due_at, polls, found,"
    " subscribed_until, renew_at"
)


def poll_row(s: PollState) -> tuple[Any, ...]:
    """A partner-carrier package's polling state as a row, columns in POLL_COLUMNS order."""
    return (
        s.tracking_number, s.carrier, s.heard_at, s.status, s.event_at, s.polled_at, s.due_at,
        s.polls, s.found, s.subscribed_until, s.renew_at,
    )  # fmt: skip


def poll_from_row(row: Any) -> PollState:
    return PollState(
        tracking_number=row[0], carrier=row[1], heard_at=row[2], status=row[3],
        event_at=row[4], polled_at=row[5], due_at=row[6], polls=row[7], found=row[8],
        subscribed_until=row[9], renew_at=row[10],
    )  # fmt: skip


def encode_estimate(record: EstimateRecord) -> bytes:
    return _package_encoder.encode(record)


def decode_estimate(blob: bytes) -> EstimateRecord:
    return _estimate_decoder.decode(blob)
