"""USPS code tables (SPEC.md §4.5): Pub 199 App. G-4 `eventCode` to our scan code and status
detail, and the words that class an unknown code."""

from __future__ import annotations

from parcelstream.carriers.updates import CodeTable, Outcome, entries
from parcelstream.domain.scans import ScanCode

_IT = Outcome(ScanCode.IN_TRANSIT)
_ARRIVED = Outcome(ScanCode.ARRIVED_AT_FACILITY)
_DEPARTED = Outcome(ScanCode.DEPARTED_FACILITY)
_RETURNED = Outcome(ScanCode.EXCEPTION, "RETURNED_TO_SENDER")


EVENT_CODES: CodeTable = {
    **entries(Outcome(ScanCode.LABEL_CREATED), "GX", "MA"),
    **entries(Outcome(ScanCode.PICKED_UP), "03", "TM", "PA", "80"),
    **entries(_ARRIVED, "10", "A1", "07", "19", "41", "81"),
    **entries(_DEPARTED, "T1", "EF", "SF", "82"),
    "PC": Outcome(ScanCode.PROCESSED_AT_FACILITY),
    **entries(_IT, "TL", "06", "08", "15", "42"),
    **entries(Outcome(ScanCode.IN_TRANSIT, "AVAILABLE_FOR_PICKUP"), "14", "16"),
    "OF": Outcome(ScanCode.OUT_FOR_DELIVERY),
    **entries(Outcome(ScanCode.DELIVERED), "01", "43", "17"),
    **entries(Outcome(ScanCode.DELIVERY_ATTEMPTED, "NOTICE_LEFT"), "02", "52"),
    "53": Outcome(ScanCode.DELIVERY_ATTEMPTED, "RECEPTACLE_BLOCKED"),
    "54": Outcome(ScanCode.DELIVERY_ATTEMPTED, "RECEPTACLE_FULL"),
    "55": Outcome(ScanCode.DELIVERY_ATTEMPTED, "NO_SECURE_LOCATION"),
    "56": Outcome(ScanCode.DELIVERY_ATTEMPTED, "RECIPIENT_UNAVAILABLE"),
    "30": Outcome(ScanCode.DELIVERY_ATTEMPTED, "NO_ACCESS"),
    "51": Outcome(ScanCode.DELIVERY_ATTEMPTED, "BUSINESS_CLOSED"),
    "04": Outcome(ScanCode.EXCEPTION, "REFUSED"),
    "05": Outcome(ScanCode.EXCEPTION, "UNDELIVERABLE"),
    **entries(_RETURNED, "09", "21", "22", "23", "24", "25", "26", "27", "28", "29", "31"),
    "11": Outcome(ScanCode.EXCEPTION, "DEAD_LETTER"),
    "44": Outcome(ScanCode.EXCEPTION, "CUSTOMER_RECALL"),
    "DX": Outcome(ScanCode.EXCEPTION, "STATUS_NOT_UPDATED"),
    "71": Outcome(ScanCode.EXCEPTION, "DELAYED"),
}
"""Pub 199 App. G-4 `eventCode` -> our scan (SPEC.md §4.5)."""

# An unknown code is classed by the event's own words. The package's `statusCategory` describes
# only the newest event and changes as events arrive, so it would give one event two dedup keys.
EXCEPTION_WORDS: tuple[str, ...] = (
    "alert",
    "return",
    "refused",
    "undeliverable",
    "delay",
    "damaged",
    "missing",
    "exception",
)


def outcome_of(event_code: str | None, words: str | None) -> tuple[Outcome, bool]:
    """(what the event means; whether the code is unknown)."""
    if event_code is not None and event_code in EVENT_CODES:
        outcome = EVENT_CODES[event_code]
        if outcome is not None:
            return outcome, False
    lowered = (words or "").lower()
    if any(word in lowered for word in EXCEPTION_WORDS):
        return Outcome(ScanCode.EXCEPTION, "CARRIER_EXCEPTION"), True
    return _IT, True
