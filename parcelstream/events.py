"""The event log's record format: what ingest appends and the pipeline consumes (MessagePack)."""

from __future__ import annotations

from hashlib import blake2b

import msgspec

from parcelstream.domain.packages import Package
from parcelstream.domain.scans import Scan
from parcelstream.storage.ports import LogRecord


class ScanRecorded(msgspec.Struct, tag="scan", array_like=True):
    scan: Scan


class PackageRegistered(msgspec.Struct, tag="package", array_like=True):
    package: Package


Event = ScanRecorded | PackageRegistered

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Event)


def scan_dedup_id(scan: Scan) -> bytes:
    tn, facility, at, code = scan.dedup_key
    return blake2b(f"{tn}\x1f{facility}\x1f{at}\x1f{code}".encode(), digest_size=16).digest()


def scan_record(scan: Scan) -> LogRecord:
    return LogRecord(_encoder.encode(ScanRecorded(scan)), scan_dedup_id(scan))


def package_record(package: Package) -> LogRecord:
    return LogRecord(_encoder.encode(PackageRegistered(package)))


def decode_event(payload: bytes) -> Event:
    """Raises msgspec.DecodeError or msgspec.ValidationError for a record that can never be read."""
    event: Event = _decoder.decode(payload)
    return event
