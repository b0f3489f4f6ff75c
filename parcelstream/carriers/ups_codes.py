"""UPS code tables (SPEC.md §2.5): 3-digit status codes, 2-letter activity codes and activity
types, each to our scan code and status detail, and the order they are consulted in."""

from __future__ import annotations

from parcelstream.carriers.updates import INFORMATIONAL, CodeTable, Outcome, entries
from parcelstream.domain.scans import ScanCode

_IT = Outcome(ScanCode.IN_TRANSIT)
_OFD = Outcome(ScanCode.OUT_FOR_DELIVERY)
_DELIVERED = Outcome(ScanCode.DELIVERED)
_PICKED_UP = Outcome(ScanCode.PICKED_UP)
_LABEL = Outcome(ScanCode.LABEL_CREATED)
_PICKUP_READY = Outcome(ScanCode.IN_TRANSIT, "AVAILABLE_FOR_PICKUP")


def _span(first: int, last: int) -> tuple[str, ...]:
    return tuple(f"{n:03d}" for n in range(first, last + 1))


STATUS_CODES: CodeTable = {
    **entries(_DELIVERED, "011", "026", "143"),
    **entries(_OFD, "006", "021", "037", "078", "089", "091", "146", "162"),
    **entries(Outcome(ScanCode.DELIVERY_ATTEMPTED), "022", "023", "024", "060", "066", "145"),
    "061": Outcome(ScanCode.DELIVERY_ATTEMPTED, "ADULT_SIGNATURE_REQUIRED"),
    "062": Outcome(ScanCode.DELIVERY_ATTEMPTED, "PAYMENT_REQUIRED"),
    **entries(_PICKUP_READY, "017", "040", "144", "161"),
    **entries(_PICKED_UP, "038", "160", "167", "168", "169"),
    **entries(_LABEL, "003", "157", "166", "044", "045", "079", "080"),
    "007": Outcome(ScanCode.EXCEPTION, "VOIDED"),
    **entries(Outcome(ScanCode.EXCEPTION, "CARRIER_EXCEPTION"), "013", "029", "030", "058"),
    **entries(Outcome(ScanCode.EXCEPTION, "CARRIER_EXCEPTION"), "076", "081", "132", "141"),
    **entries(Outcome(ScanCode.EXCEPTION, "RETURNED_TO_SENDER"), "033", "034", "035", "036", "067"),
    **entries(Outcome(ScanCode.EXCEPTION, "DELAYED"), "046", "048", "049", "086", "090"),
    "050": Outcome(ScanCode.EXCEPTION, "ADDRESS_ISSUE"),
    **entries(Outcome(ScanCode.EXCEPTION, "WEATHER_DELAY"), "051", "052", "053"),
    "059": Outcome(ScanCode.EXCEPTION, "DAMAGED"),
    "064": Outcome(ScanCode.EXCEPTION, "REFUSED"),
    "068": Outcome(ScanCode.EXCEPTION, "LOST"),
    "069": Outcome(ScanCode.EXCEPTION, "UNDELIVERABLE"),
    "083": Outcome(ScanCode.EXCEPTION, "HELD"),
    "147": Outcome(ScanCode.EXCEPTION, "SEIZED"),
    "149": Outcome(ScanCode.EXCEPTION, "DESTROYED"),
    **entries(Outcome(ScanCode.EXCEPTION, "CUSTOMS_HOLD"), "123", "124", "125", "126"),
    **entries(INFORMATIONAL, "153", "154", "155", "018", "027", "028", "041", "042", "043"),
    **entries(INFORMATIONAL, "054", "063", "082", "127", "128", "129", "130", "140", "142"),
    **entries(INFORMATIONAL, *_span(95, 122)),
    **entries(_IT, "005", "010", "025", "039", "047", "087", "158", "159", "164", "165"),
    **entries(_IT, "071", "072", "012", "014", "092", "134"),
}
"""3-digit status codes (`status.statusCode`; Track Alert `descriptionCode`). None: no status."""

ACTIVITY_CODES: CodeTable = {
    **entries(_OFD, "OT", "OF", "YF", "YI"),
    **entries(_PICKED_UP, "OR", "PU", "PC", "PT", "XD"),
    **entries(INFORMATIONAL, "UP", "UT", "PX"),
    **entries(_LABEL, "MP", "RD"),
    "VP": Outcome(ScanCode.EXCEPTION, "VOIDED"),
    "AR": Outcome(ScanCode.ARRIVED_AT_FACILITY),
    **entries(_IT, "DS", "HU", "IP", "EP", "LC", "LM", "UL", "WH", "OD", "YP"),
}
"""2-letter activity codes (`status.code`), used when the status code is missing or unknown."""

# Movement codes that name the kind of in-transit scan; the status code alone says "on the way".
_MOVEMENT: dict[str, ScanCode] = {
    "AR": ScanCode.ARRIVED_AT_FACILITY,
    "DP": ScanCode.DEPARTED_FACILITY,
}

_EXCEPTION_CLASSES = {"X": "CARRIER_EXCEPTION", "MV": "VOIDED"}

# 2-character exception codes that say why an attempt failed (SPEC.md §2.5: "48").
ATTEMPT_REASONS: dict[str, str] = {"48": "RECIPIENT_UNAVAILABLE"}


def outcome_of(
    kind: str | None, code: str | None, status_code: str | None
) -> tuple[Outcome | None, bool]:
    """(what the event means, or None when it moves no status; whether the code is unknown)."""
    if kind == "U":
        return INFORMATIONAL, False
    if status_code is not None and status_code in STATUS_CODES:
        outcome = STATUS_CODES[status_code]
        if outcome is _IT and kind == "I" and code in _MOVEMENT:
            outcome = Outcome(_MOVEMENT[code])
        elif (
            outcome is not None
            and outcome.code is ScanCode.DELIVERY_ATTEMPTED
            and outcome.exception is None
            and code in ATTEMPT_REASONS
        ):
            outcome = Outcome(ScanCode.DELIVERY_ATTEMPTED, ATTEMPT_REASONS[code])
        return outcome, False
    # A 3-digit code we do not know is reported even when the activity code places the event,
    # so the table can grow.
    missed = status_code is not None
    if code is not None and code in ACTIVITY_CODES:
        return ACTIVITY_CODES[code], missed
    if code == "DP" and kind == "I":
        return Outcome(ScanCode.DEPARTED_FACILITY), missed
    # Unknown: by class, but never DELIVERED ("D" also covers out-for-delivery scans).
    if kind == "M":
        return _LABEL, True
    if kind is not None and kind in _EXCEPTION_CLASSES:
        return Outcome(ScanCode.EXCEPTION, _EXCEPTION_CLASSES[kind]), True
    return _IT, True
