"""Package status as a pure function of the scan history (the status FSM of DESIGN.md).

Scans are ordered by event time, never by arrival, so the same set of scans in any arrival order
gives the same status.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from parcelstream.domain.scans import DedupKey, Location, Scan, ScanCode


class Status(StrEnum):
    LABEL_CREATED = "LABEL_CREATED"
    PICKED_UP = "PICKED_UP"
    IN_TRANSIT = "IN_TRANSIT"
    OUT_FOR_DELIVERY = "OUT_FOR_DELIVERY"
    DELIVERED = "DELIVERED"
    ATTEMPTED_DELIVERY = "ATTEMPTED_DELIVERY"
    EXCEPTION = "EXCEPTION"


STATUS_OF: dict[ScanCode, Status] = {
    ScanCode.LABEL_CREATED: Status.LABEL_CREATED,
    ScanCode.PICKED_UP: Status.PICKED_UP,
    ScanCode.ARRIVED_AT_FACILITY: Status.IN_TRANSIT,
    ScanCode.DEPARTED_FACILITY: Status.IN_TRANSIT,
    ScanCode.PROCESSED_AT_FACILITY: Status.IN_TRANSIT,
    ScanCode.IN_TRANSIT: Status.IN_TRANSIT,
    ScanCode.OUT_FOR_DELIVERY: Status.OUT_FOR_DELIVERY,
    ScanCode.DELIVERED: Status.DELIVERED,
    ScanCode.DELIVERY_ATTEMPTED: Status.ATTEMPTED_DELIVERY,
    ScanCode.EXCEPTION: Status.EXCEPTION,
}

MILESTONES: frozenset[Status] = frozenset(
    {
        Status.PICKED_UP,
        Status.OUT_FOR_DELIVERY,
        Status.DELIVERED,
        Status.ATTEMPTED_DELIVERY,
        Status.EXCEPTION,
    }
)

# Scans sharing an instant are ordered by how far along they put the package, so a handheld that
# stamps "out for delivery" and "delivered" in the same second still ends DELIVERED.
_PROGRESS: dict[ScanCode, int] = {
    ScanCode.LABEL_CREATED: 0,
    ScanCode.PICKED_UP: 1,
    ScanCode.ARRIVED_AT_FACILITY: 2,
    ScanCode.PROCESSED_AT_FACILITY: 3,
    ScanCode.DEPARTED_FACILITY: 4,
    ScanCode.IN_TRANSIT: 5,
    ScanCode.EXCEPTION: 6,
    ScanCode.OUT_FOR_DELIVERY: 7,
    ScanCode.DELIVERY_ATTEMPTED: 8,
    ScanCode.DELIVERED: 9,
}

_PHRASES: dict[ScanCode, str] = {
    ScanCode.LABEL_CREATED: "Shipping label created",
    ScanCode.PICKED_UP: "Picked up",
    ScanCode.ARRIVED_AT_FACILITY: "Arrived at facility",
    ScanCode.DEPARTED_FACILITY: "Departed facility",
    ScanCode.PROCESSED_AT_FACILITY: "Processed at facility",
    ScanCode.IN_TRANSIT: "In transit",
    ScanCode.OUT_FOR_DELIVERY: "Out for delivery",
    ScanCode.DELIVERED: "Delivered",
    ScanCode.DELIVERY_ATTEMPTED: "Delivery attempted",
    ScanCode.EXCEPTION: "Exception",
}


def event_order(scan: Scan) -> tuple[int, int, str, str]:
    """Total order over distinct scans: event time, progress, then the rest of the dedup key."""
    return (scan.occurred_at, _PROGRESS[scan.status_code], scan.facility_id, scan.status_code)


def describe(scan: Scan) -> str:
    """A short human sentence for a scan: a partner carrier's own words and code when it gave
    them, else made from the scan's codes (scanners' free text is never shown)."""
    if scan.detail:
        return scan.detail
    phrase = _PHRASES[scan.status_code]
    if scan.exception_code:
        return f"{phrase}: {scan.exception_code.replace('_', ' ').lower()}"
    return phrase


@dataclass(frozen=True, slots=True)
class Transition:
    """The package entered `status` (or a new `detail` of it) because of the scan `cause`."""

    status: Status
    detail: str | None
    cause: Scan


@dataclass(frozen=True, slots=True)
class PackageState:
    status: Status
    status_detail: str | None
    history: tuple[Scan, ...]
    """Distinct scans, oldest first."""
    after_delivery: frozenset[DedupKey]
    """Scans dated after the delivery: kept in history, ignored for status."""
    transitions: tuple[Transition, ...]
    last_location: Location | None
    last_event_at: int | None

    @property
    def delivered(self) -> bool:
        return self.status is Status.DELIVERED


def derive_status(scans: Iterable[Scan]) -> PackageState:
    """Replay the history in event order through the FSM.

    Skipped states are fine (a first scan may be OUT_FOR_DELIVERY). DELIVERED is terminal. A label
    scan never moves a package that is already on its way back to LABEL_CREATED.
    """
    distinct: dict[DedupKey, Scan] = {}
    for scan in scans:
        distinct.setdefault(scan.dedup_key, scan)
    history = tuple(sorted(distinct.values(), key=event_order))

    status: Status | None = None
    detail: str | None = None
    transitions: list[Transition] = []
    after_delivery: set[DedupKey] = set()
    last_location: Location | None = None
    for scan in history:
        if status is Status.DELIVERED:
            after_delivery.add(scan.dedup_key)
            continue
        if scan.location is not None:
            last_location = scan.location
        target = STATUS_OF[scan.status_code]
        if target is Status.LABEL_CREATED and status is not None:
            continue
        new_detail = _detail(scan, target)
        if target is not status or new_detail != detail:
            transitions.append(Transition(target, new_detail, scan))
        status, detail = target, new_detail

    return PackageState(
        status=status or Status.LABEL_CREATED,
        status_detail=detail,
        history=history,
        after_delivery=frozenset(after_delivery),
        transitions=tuple(transitions),
        last_location=last_location,
        last_event_at=history[-1].occurred_at if history else None,
    )


IN_TRANSIT_DETAILS: frozenset[str] = frozenset({"AVAILABLE_FOR_PICKUP"})
"""The details an in-transit package can show: held for pickup has no state of its own."""


def _detail(scan: Scan, status: Status) -> str | None:
    if status in (Status.EXCEPTION, Status.ATTEMPTED_DELIVERY):
        return scan.exception_code
    if status is Status.IN_TRANSIT and scan.exception_code in IN_TRANSIT_DETAILS:
        return scan.exception_code
    return None
