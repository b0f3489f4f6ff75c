"""What every carrier adapter's pure parsers return, and the pieces they share: reading a carrier's
JSON with field paths, local times to instants, and stable facility ids.

Parsers do no I/O and read no clock. A whole body that cannot be read raises CarrierBodyError; one
bad event inside a good body becomes a Rejected and its neighbours are kept.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import msgspec

from parcelstream.domain.numbers import detect, normalize
from parcelstream.domain.proof import DeliveryWindow
from parcelstream.domain.scans import Scan, ScanCode
from parcelstream.domain.zones import zone_name

T = TypeVar("T")

CARRIER_IDS: tuple[str, ...] = ("ups", "fedex", "usps")
"""The partner carriers parcelstream has adapters for."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_DETAIL = 200


@dataclass(frozen=True, slots=True)
class CarrierUpdate:
    """One package's events from one carrier body, mapped to our scans."""

    tracking_number: str
    carrier: str
    scans: list[Scan]
    unknown_codes: list[str] = field(default_factory=list)
    """Carrier codes our tables do not know (kept as scans by class; count them)."""
    window: DeliveryWindow | None = None
    """The latest delivery date or window the carrier gave for the package, if any."""


@dataclass(frozen=True, slots=True)
class Rejected:
    """A bad event or entry inside an otherwise good body."""

    path: str
    """Where the event sits, e.g. `trackResponse.shipment[0].package[0].activity[2]`."""
    field: str
    """The field at fault, as a full path."""
    reason: str


@dataclass(frozen=True, slots=True)
class Parsed:
    updates: list[CarrierUpdate]
    rejected: list[Rejected] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)
    """Numbers the carrier answered for but has no data on (UPS TW0001, FedEx NOTFOUND)."""

    @property
    def scans(self) -> list[Scan]:
        return [scan for update in self.updates for scan in update.scans]


class CarrierBodyError(ValueError):
    """The body as a whole cannot be read: not JSON, or not the carrier's shape."""

    def __init__(self, field: str | None, reason: str) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.field = field
        self.reason = reason


class BadField(ValueError):
    """One field of one event is wrong; the parser turns it into a Rejected."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a carrier code means to us: a scan code, and our status detail for it."""

    code: ScanCode
    exception: str | None = None


INFORMATIONAL = None
"""Table value for events that must not move the status (EDD changes, photo available)."""

CodeTable = Mapping[str, Outcome | None]


def entries(outcome: Outcome | None, *codes: str) -> dict[str, Outcome | None]:
    """Table rows: every code in `codes` means `outcome`."""
    return dict.fromkeys(codes, outcome)


# --- reading JSON --------------------------------------------------------------------------------


def decode_json(body: bytes | str) -> Any:
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise CarrierBodyError(None, f"not valid JSON: {exc}") from None


def as_object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadField(path, "expected an object")
    return value


def as_list(value: Any, path: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadField(path, "expected an array")
    return value


def text(obj: Mapping[str, Any], key: str, path: str, *, required: bool = False) -> str | None:
    """A string field, stripped; blank means absent, as carriers send "" for "not known"."""
    value = obj.get(key)
    if value is None or value == "":
        if required:
            raise BadField(join(path, key), "is required")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise BadField(join(path, key), "expected a string")
    stripped = str(value).strip()
    if not stripped and required:
        raise BadField(join(path, key), "is required")
    return stripped or None


def or_rejected(read: Callable[[], T], path: str, rejected: list[Rejected]) -> T | None:
    """A package-level extra (window, proof, zone) read on its own: when it is bad, the
    package's scans are still kept and the extra is named in `rejected`."""
    try:
        return read()
    except BadField as exc:
        rejected.append(Rejected(path, exc.field, exc.reason))
        return None


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def tracking_number_of(raw: str, path: str) -> str:
    """The number as we store it; one no carrier could have issued is refused."""
    number = normalize(raw)
    if not detect(number).valid:
        raise BadField(path, f"{raw!r} is not a valid tracking number")
    return number


# --- details, facility ids -----------------------------------------------------------------------


def carrier_detail(words: str | None, code: str | None) -> str | None:
    """The carrier's words with its code in brackets: "Arrived at Facility [AR/005]"."""
    words = " ".join(words.split()) if words else None
    if words and code:
        return f"{words[: _MAX_DETAIL - len(code) - 3]} [{code}]"
    return words[:_MAX_DETAIL] if words else (f"[{code}]" if code else None)


_NOT_ID = re.compile(r"[^A-Z0-9.-]+")


def facility_id(carrier: str, *parts: str | None) -> str:
    """A stable id for where an event happened, from the place names a carrier gives.

    Carriers give no facility id on every path (UPS pushes carry no SLIC, FedEx delivery scans no
    location id), so the id is made from city, region and country only: the same event then has
    the same dedup key whether it came by push or by poll.
    """
    cleaned = [_NOT_ID.sub("-", p.strip().upper()).strip("-") for p in parts if p and p.strip()]
    place = "/".join(c for c in cleaned if c)
    return f"{carrier}:{place or 'unlocated'}"[:64]


# --- times ---------------------------------------------------------------------------------------


def micros_of(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def offset_minutes(moment: datetime) -> int:
    offset = moment.utcoffset()
    return int(offset.total_seconds()) // 60 if offset is not None else 0


_OFFSET = re.compile(r"^([+-])(\d{1,2})(?:[:.]?(\d{2}))?$")


def parse_offset(raw: str, path: str) -> int:
    """'-05:00', '-05.00' (UPS Track Alert), '-0500' or '-5' -> minutes east of UTC."""
    if raw.upper() == "Z":
        return 0
    found = _OFFSET.match(raw.strip())
    if found is None:
        raise BadField(path, f"{raw!r} is not a UTC offset such as -05:00")
    sign, hours, minutes = found.groups()
    total = int(hours) * 60 + int(minutes or 0)
    if total > 14 * 60:
        raise BadField(path, f"{raw!r} is not a UTC offset such as -05:00")
    return -total if sign == "-" else total


def parse_compact_date(raw: str, path: str) -> date:
    """'20261119' -> a date."""
    if len(raw) != 8 or not raw.isdigit():
        raise BadField(path, f"{raw!r} is not a date in YYYYMMDD form")
    try:
        return date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
    except ValueError:
        raise BadField(path, f"{raw!r} is not a date in YYYYMMDD form") from None


def parse_compact_time(raw: str, path: str) -> time:
    """'074700' or the unpadded '74700' UPS also sends -> a time of day."""
    if not raw.isdigit() or not 1 <= len(raw) <= 6:
        raise BadField(path, f"{raw!r} is not a time in HHMMSS form")
    padded = raw.zfill(6)
    try:
        return time(int(padded[:2]), int(padded[2:4]), int(padded[4:]))
    except ValueError:
        raise BadField(path, f"{raw!r} is not a time in HHMMSS form") from None


def parse_clock(raw: str, path: str) -> time:
    """'14:30', '14:30:00' or '143000' -> a time of day."""
    digits = raw.strip().replace(":", "")
    if len(digits) == 4:
        digits += "00"
    if len(digits) != 6:
        raise BadField(path, f"{raw!r} is not a time of day such as 14:30")
    return parse_compact_time(digits, path)


def parse_local(raw: str, path: str) -> datetime:
    """A wall-clock date-time; any offset or Z on it is dropped (carriers' local times lie)."""
    cleaned = raw.strip()
    if cleaned[-1:] in "Zz":
        cleaned = cleaned[:-1]
    elif len(cleaned) > 19 and cleaned[-6] in "+-":
        cleaned = cleaned[:-6]
    try:
        moment = datetime.fromisoformat(cleaned)
    except ValueError:
        raise BadField(path, f"{raw!r} is not a date-time such as 2026-11-22T16:17:00") from None
    return moment.replace(tzinfo=None)


def parse_aware(raw: str, path: str) -> datetime:
    """An ISO-8601 date-time that must carry its offset (FedEx) or Z (GMT fields)."""
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise BadField(path, f"{raw!r} is not a date-time with a UTC offset")
    return moment


def fixed_zone(minutes: int) -> tzinfo:
    return UTC if minutes == 0 else timezone(timedelta(minutes=minutes))


def place_zone(
    country: str | None, region: str | None, postal_code: str | None, city: str | None = None
) -> tzinfo | None:
    """The zone of a place, or None when the place does not pin one down.

    A postal code alone is not enough outside the split-state table (a ZIP does not say its
    state here), so a region or a country with one zone is needed.
    """
    if not region and not country:
        return None
    name = zone_name(country, region, postal_code, city)
    return ZoneInfo(name) if name else None


def localize(wall: datetime, zone: tzinfo) -> datetime:
    """Attach a zone to a wall-clock time; in a repeated hour the first (daylight) one is taken."""
    return wall.replace(tzinfo=zone, fold=0)


def day_window(day: date, zone: tzinfo, start: time | None, end: time | None) -> DeliveryWindow:
    """A delivery promise on `day` in `zone`: the whole day unless start/end narrow it."""
    earliest = localize(datetime.combine(day, start or time(0, 0)), zone)
    if end is None:
        latest = localize(datetime.combine(day + timedelta(days=1), time(0, 0)), zone)
        latest_us = micros_of(latest) - 1
    else:
        latest_us = micros_of(localize(datetime.combine(day, end), zone))
    earliest_us = micros_of(earliest)
    return DeliveryWindow(earliest_us, max(earliest_us, latest_us))


def newest(scans: list[Scan]) -> Scan | None:
    return max(scans, key=lambda s: s.occurred_at, default=None)


def with_window(scans: list[Scan], window: DeliveryWindow | None) -> list[Scan]:
    """Put the carrier's delivery promise on the newest scan it came with (not after delivery)."""
    last = newest(scans)
    if window is None or last is None or last.status_code is ScanCode.DELIVERED:
        return scans
    return [replace(s, carrier_window=window) if s is last else s for s in scans]
