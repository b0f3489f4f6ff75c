"""A scan: one sighting of a package, as scanners and carrier adapters report it.

Times are UTC epoch microseconds plus the UTC offset (minutes) the scanner reported, so history
orders by instant and still shows each event in its local time.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from parcelstream.domain.proof import DeliveryWindow, Proof


class ScanCode(StrEnum):
    LABEL_CREATED = "LABEL_CREATED"
    PICKED_UP = "PICKED_UP"
    ARRIVED_AT_FACILITY = "ARRIVED_AT_FACILITY"
    DEPARTED_FACILITY = "DEPARTED_FACILITY"
    PROCESSED_AT_FACILITY = "PROCESSED_AT_FACILITY"
    IN_TRANSIT = "IN_TRANSIT"
    OUT_FOR_DELIVERY = "OUT_FOR_DELIVERY"
    DELIVERED = "DELIVERED"
    DELIVERY_ATTEMPTED = "DELIVERY_ATTEMPTED"
    EXCEPTION = "EXCEPTION"


@dataclass(frozen=True, slots=True)
class Location:
    """Where a scan happened. `postal_code` is kept in history but never published."""

    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None


DedupKey = tuple[str, str, int, str]

SCAN_CODES: dict[str, ScanCode] = {code.value: code for code in ScanCode}
"""Code text to member: a dict lookup, much cheaper than calling ScanCode(text)."""


@dataclass(frozen=True, slots=True)
class Scan:
    tracking_number: str
    facility_id: str
    occurred_at: int
    """UTC epoch microseconds."""
    utc_offset: int
    """Minutes east of UTC, as the scanner reported the time."""
    status_code: ScanCode
    exception_code: str | None = None
    employee_id: str | None = None
    location: Location | None = None
    proof: Proof | None = None
    """Signature, photos and GPS point of a delivery; only on DELIVERED scans."""
    carrier_window: DeliveryWindow | None = None
    """The delivery date or window a partner carrier reported with this scan."""
    detail: str | None = None
    """A partner carrier's own words and code for the event ("Arrived at Facility [AR/005]"),
    kept as the carrier sent them; scanners send none."""

    @property
    def dedup_key(self) -> DedupKey:
        """Two scans with the same key are the same scan, sent twice."""
        # The member is its own str value; `.value` is a slow Python property on a hot path.
        return (self.tracking_number, self.facility_id, self.occurred_at, self.status_code)
