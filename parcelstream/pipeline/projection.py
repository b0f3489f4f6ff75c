"""From a package's master data and full history to its status and public document."""

from __future__ import annotations

from parcelstream.domain.milestones import milestone_occurrences
from parcelstream.domain.numbers import detect
from parcelstream.domain.packages import Package
from parcelstream.domain.scans import Scan
from parcelstream.domain.status import derive_status
from parcelstream.storage.ports import Projection
from parcelstream.tracking.document import etag_of, render_document


def project_package(
    tracking_number: str,
    package: Package | None,
    history: list[Scan],
    estimate: bytes | None = None,
    /,
) -> Projection:
    """`estimate`: the EDD worker's last `estimated_delivery`, kept until it recomputes; a
    delivered package shows none (the delivery itself is the answer)."""
    state = derive_status(history)
    if state.delivered:
        estimate = None
    carrier = package.carrier if package is not None and package.carrier else None
    if carrier is None:
        carrier = detect(tracking_number).carrier
    body = render_document(tracking_number, carrier, package, state, estimate)
    return Projection(
        status=state.status,
        document=body,
        etag=etag_of(body),
        milestones=milestone_occurrences(tracking_number, state),
    )
