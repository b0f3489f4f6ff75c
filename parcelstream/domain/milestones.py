"""Milestone occurrences: the moments a package entered a status people are told about.

An occurrence is numbered per milestone (the first OUT_FOR_DELIVERY, the second after a failed
attempt...), not keyed on the scan that caused it, so a late scan dated a minute earlier than the
one already notified re-labels nothing and can never cause a second notification.
"""

from __future__ import annotations

from dataclasses import dataclass

from parcelstream.domain.scans import Location
from parcelstream.domain.status import MILESTONES, PackageState, Status

MilestoneKey = tuple[str, str, int]


@dataclass(frozen=True, slots=True)
class Occurrence:
    tracking_number: str
    milestone: str
    """A Status among MILESTONES, or ESTIMATE_CHANGED (domain/estimate.py) for a moved date."""
    number: int
    """1 for the first time the package entered this milestone, 2 for the second..."""
    detail: str | None
    occurred_at: int
    utc_offset: int
    location: Location | None

    @property
    def key(self) -> MilestoneKey:
        return (self.tracking_number, self.milestone, self.number)


def milestone_occurrences(tracking_number: str, state: PackageState) -> tuple[Occurrence, ...]:
    seen: dict[Status, int] = {}
    found = []
    for transition in state.transitions:
        if transition.status not in MILESTONES:
            continue
        number = seen[transition.status] = seen.get(transition.status, 0) + 1
        scan = transition.cause
        found.append(
            Occurrence(
                tracking_number=tracking_number,
                milestone=transition.status,
                number=number,
                detail=transition.detail,
                occurred_at=scan.occurred_at,
                utc_offset=scan.utc_offset,
                location=scan.location,
            )
        )
    return tuple(found)
