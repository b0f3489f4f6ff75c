"""FedEx code tables (SPEC.md §3.5): `eventType` to our scan code and status detail, with the
derived class for codes the table does not know."""

from __future__ import annotations

from parcelstream.carriers.updates import INFORMATIONAL, CodeTable, Outcome, entries
from parcelstream.domain.scans import ScanCode

_IT = Outcome(ScanCode.IN_TRANSIT)
_ARRIVED = Outcome(ScanCode.ARRIVED_AT_FACILITY)
_DELAYED = Outcome(ScanCode.EXCEPTION, "DELAYED")


EVENT_TYPES: CodeTable = {
    **entries(Outcome(ScanCode.LABEL_CREATED), "OC", "EP", "AP"),
    **entries(Outcome(ScanCode.PICKED_UP), "PU", "PX"),
    **entries(_ARRIVED, "AR", "AF", "FD"),
    **entries(Outcome(ScanCode.DEPARTED_FACILITY), "DP", "LO"),
    "SF": Outcome(ScanCode.PROCESSED_AT_FACILITY),
    **entries(_IT, "IT", "IX", "AA", "AC", "AX", "EA", "EO", "OF", "OW", "OX", "PF", "PL", "PM"),
    **entries(_IT, "TR", "CC", "CP", "AO", "AE", "CH", "SP", "DS", "DR"),
    **entries(Outcome(ScanCode.IN_TRANSIT, "AVAILABLE_FOR_PICKUP"), "HL", "HP"),
    **entries(Outcome(ScanCode.OUT_FOR_DELIVERY), "OD", "ED", "AD"),
    "DL": Outcome(ScanCode.DELIVERED),
    "DE": Outcome(ScanCode.EXCEPTION, "DELIVERY_EXCEPTION"),
    "SE": Outcome(ScanCode.EXCEPTION, "CARRIER_EXCEPTION"),
    "CA": Outcome(ScanCode.EXCEPTION, "CANCELLED"),
    "RS": Outcome(ScanCode.EXCEPTION, "RETURNED_TO_SENDER"),
    **entries(_DELAYED, "DY", "DD", "PD"),
    "CD": Outcome(ScanCode.EXCEPTION, "CUSTOMS_HOLD"),
    **entries(INFORMATIONAL, "RR", "RM", "RC", "RP", "LP", "RG", "RD"),
}
"""`scanEvents[].eventType` -> our scan; None: custom-delivery-option and return-label events."""

DELAY_TYPES: dict[str, str] = {"WEATHER": "WEATHER_DELAY", "CLEARANCE": "CUSTOMS_HOLD"}
"""`delayDetail.type` narrowing a delay."""

# FedEx publishes no exception-code table that tells a failed attempt from other delivery
# exceptions, so the event's own words decide (SPEC.md §3.5, a heuristic). Only the event's
# fields count: package-level fields change between responses, and the same event must map the
# same way every time or its dedup key would change.
ATTEMPT_WORDS: tuple[tuple[str, str | None], ...] = (
    ("business closed", "BUSINESS_CLOSED"),
    ("no access", "NO_ACCESS"),
    ("not available", "RECIPIENT_UNAVAILABLE"),
    ("not home", "RECIPIENT_UNAVAILABLE"),
    ("attempt", None),
)

_EXCEPTION_CLASSES = {"DY": "DELAYED", "DE": "DELIVERY_EXCEPTION", "SE": "CARRIER_EXCEPTION"}


def outcome_of(
    event_type: str | None, derived: str | None, words: str, delay_type: str | None
) -> tuple[Outcome | None, bool]:
    """(what the event means, or None when it moves no status; whether the code is unknown)."""
    if event_type is not None and event_type in EVENT_TYPES:
        outcome = EVENT_TYPES[event_type]
        if event_type == "DE":
            lowered = words.lower()
            for phrase, reason in ATTEMPT_WORDS:
                if phrase in lowered:
                    return Outcome(ScanCode.DELIVERY_ATTEMPTED, reason), False
        if outcome is _DELAYED and delay_type in DELAY_TYPES:
            outcome = Outcome(ScanCode.EXCEPTION, DELAY_TYPES[delay_type])
        return outcome, False
    if derived is not None and derived in _EXCEPTION_CLASSES:
        return Outcome(ScanCode.EXCEPTION, _EXCEPTION_CLASSES[derived]), True
    return _IT, True
