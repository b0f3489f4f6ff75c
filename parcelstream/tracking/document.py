"""The public tracking document: what GET /v1/track returns, rendered once per change.

It never carries a name, street, phone number, e-mail address or postal code: locations are
city-level, and employee ids stay internal.
"""

from __future__ import annotations

from hashlib import blake2b
from typing import Any

import msgspec

from parcelstream.domain.packages import Address, Package
from parcelstream.domain.scans import Location
from parcelstream.domain.status import STATUS_OF, PackageState, describe
from parcelstream.domain.times import format_instant

_encoder = msgspec.json.Encoder()


def render_document(
    tracking_number: str, carrier: str | None, package: Package | None, state: PackageState
) -> bytes:
    events: list[dict[str, Any]] = [
        {
            "timestamp": format_instant(scan.occurred_at, scan.utc_offset),
            "status_code": scan.status_code.value,
            "status": STATUS_OF[scan.status_code].value,
            "exception_code": scan.exception_code,
            "facility_id": scan.facility_id,
            "location": _city(scan.location),
            "description": describe(scan),
            "after_delivery": scan.dedup_key in state.after_delivery,
        }
        for scan in reversed(state.history)
    ]
    if state.history:
        newest = state.history[-1]
        last_updated: str | None = format_instant(newest.occurred_at, newest.utc_offset)
    elif package is not None:
        last_updated = format_instant(package.registered_at)
    else:
        last_updated = None
    return _encoder.encode(
        {
            "tracking_number": tracking_number,
            "carrier": carrier,
            "service_type": package.service_type if package else None,
            "status": state.status.value,
            "status_detail": state.status_detail,
            "last_location": _city(state.last_location),
            "origin": _city(package.origin) if package else None,
            "destination": _city(package.destination) if package else None,
            "estimated_delivery": None,
            "last_updated": last_updated,
            "events": events,
            "proof_of_delivery": None,
        }
    )


def etag_of(body: bytes) -> str:
    return '"' + blake2b(body, digest_size=12).hexdigest() + '"'


def _city(place: Location | Address | None) -> dict[str, str | None] | None:
    if place is None or (place.city is None and place.region is None and place.country is None):
        return None
    return {"city": place.city, "region": place.region, "country": place.country}
