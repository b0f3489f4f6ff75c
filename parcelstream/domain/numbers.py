"""Tracking-number validation and carrier detection, driven by the tracking_number_data formats
shipped in `number_formats/` (regexes, check digits and lookups; no number is known here)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache, partial
from importlib import resources
from typing import Any

CARRIERS: tuple[str, ...] = ("ups", "fedex", "usps", "dhl", "ontrac", "canadapost", "amazon", "s10")
"""Our carrier ids, in the order `Detection.carriers` reports them. Each names a format file in
`number_formats/`; S10 numbers issued in the US are reported as "usps", not "s10"."""

_FORMAT_FILES: tuple[str, ...] = CARRIERS
_FORMATS_PACKAGE = "parcelstream.domain"
_FORMATS_FOLDER = "number_formats"

# An S10 number belongs to whichever postal service issued it; the ones we track ourselves go to
# that carrier, the rest stay with the generic "s10" id.
_S10_FILE = "s10"
_S10_ISSUERS: Mapping[str, str] = {"US": "usps"}

_MAX_LENGTH = 40
_ALLOWED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")

# The data set is written for Ruby/PCRE, whose named groups Python spells (?P<name>...).
_RUBY_NAMED_GROUP = re.compile(r"\(\?<(?=[A-Za-z_])")

# The `additional` sections whose lookup entry says what `Match.service` reports, and which field.
_SERVICE_SOURCES: tuple[tuple[str, str], ...] = (
    ("ServiceType", "name"),
    ("CountryCode", "country"),
)

_Checksum = Callable[[str, str], bool]


def normalize(raw: str) -> str:
    """Drop every whitespace character and upper-case, as numbers are typed or scanned."""
    return "".join(raw.split()).upper()


@dataclass(frozen=True, slots=True)
class Match:
    carrier: str
    format: str
    service: str | None


@dataclass(frozen=True, slots=True)
class Detection:
    number: str
    matches: tuple[Match, ...]

    @property
    def valid(self) -> bool:
        return bool(self.matches)

    @property
    def carriers(self) -> tuple[str, ...]:
        found = {match.carrier for match in self.matches}
        return tuple(carrier for carrier in CARRIERS if carrier in found)

    @property
    def ambiguous(self) -> bool:
        return len(self.carriers) > 1

    @property
    def carrier(self) -> str | None:
        carriers = self.carriers
        return carriers[0] if len(carriers) == 1 else None


def detect(raw: str) -> Detection:
    """Every supported format `raw` is a valid number of: pattern, check digit and lookups."""
    return _detect_normalized(normalize(raw))


# A package's number is checked on every scan and every re-projection: remember recent answers.
@lru_cache(maxsize=65_536)
def _detect_normalized(number: str) -> Detection:
    if not number or len(number) > _MAX_LENGTH or not _ALLOWED.issuperset(number):
        return Detection(number, ())
    matches = tuple(match for fmt in _formats() if (match := _match(fmt, number)) is not None)
    return Detection(number, matches)


def is_valid(raw: str, carrier: str | None = None) -> bool:
    """Whether `raw` is valid at all or, given `carrier`, valid for that carrier.

    An unknown carrier id raises ValueError rather than quietly answering False.
    """
    if carrier is None:
        return detect(raw).valid
    if carrier not in CARRIERS:
        raise ValueError(f"unknown carrier {carrier!r}; expected one of {', '.join(CARRIERS)}")
    return carrier in detect(raw).carriers


# --- formats -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _LookupEntry:
    exact: str | None
    pattern: re.Pattern[str] | None
    fields: Mapping[str, str]

    def accepts(self, value: str) -> bool:
        # As in the reference gem, an exact `matches` wins over `matches_regex`, and the
        # regex only has to occur somewhere in the value.
        if self.exact is not None:
            return value == self.exact
        return self.pattern is not None and self.pattern.search(value) is not None


@dataclass(frozen=True, slots=True)
class _Additional:
    label: str
    group: str
    entries: tuple[_LookupEntry, ...]

    def find(self, groups: Mapping[str, str | None]) -> _LookupEntry | None:
        value = groups.get(self.group)
        if value is None:
            return None
        return next((entry for entry in self.entries if entry.accepts(value)), None)


@dataclass(frozen=True, slots=True)
class _Format:
    source: str
    name: str
    pattern: re.Pattern[str]
    checksum: _Checksum | None
    prepend_if: tuple[re.Pattern[str], str] | None
    additional: tuple[_Additional, ...]
    required: tuple[str, ...]


def _match(fmt: _Format, number: str) -> Match | None:
    whole = fmt.pattern.fullmatch(number)
    if whole is None:
        return None
    groups = whole.groupdict()
    if fmt.checksum is not None:
        check_digit = groups["CheckDigit"] or ""
        if not fmt.checksum(_serial(fmt, groups), check_digit):
            return None
    # A required lookup turns a well-formed number with an unknown code (S10: country) away.
    found = {extra.label for extra in fmt.additional if extra.find(groups) is not None}
    if not found.issuperset(fmt.required):
        return None
    return Match(_carrier(fmt, groups), fmt.name, _service(fmt, groups))


def _serial(fmt: _Format, groups: Mapping[str, str | None]) -> str:
    serial = groups["SerialNumber"] or ""
    if fmt.prepend_if is not None:
        # Some carriers leave a fixed prefix off the printed number but still count it in the
        # check digit.
        condition, content = fmt.prepend_if
        if condition.search(serial):
            serial = content + serial
    return serial


def _carrier(fmt: _Format, groups: Mapping[str, str | None]) -> str:
    if fmt.source == _S10_FILE:
        return _S10_ISSUERS.get(groups.get("CountryCode") or "", _S10_FILE)
    return fmt.source


def _service(fmt: _Format, groups: Mapping[str, str | None]) -> str | None:
    for group, field in _SERVICE_SOURCES:
        for extra in fmt.additional:
            if extra.group != group:
                continue
            entry = extra.find(groups)
            if entry is not None and entry.fields.get(field):
                return entry.fields[field]
    return None


@cache
def _formats() -> tuple[_Format, ...]:
    folder = resources.files(_FORMATS_PACKAGE) / _FORMATS_FOLDER
    formats: list[_Format] = []
    for source in _FORMAT_FILES:
        courier = json.loads((folder / f"{source}.json").read_text(encoding="utf-8"))
        formats.extend(_parse_format(source, spec) for spec in courier["tracking_numbers"])
    return tuple(formats)


def _compile(pattern: str | Sequence[str]) -> re.Pattern[str]:
    text = pattern if isinstance(pattern, str) else "".join(pattern)
    # The group keeps fullmatch honest should a pattern ever carry a top-level alternation.
    return re.compile("(?:" + _RUBY_NAMED_GROUP.sub("(?P<", text) + ")")


def _parse_format(source: str, spec: Mapping[str, Any]) -> _Format:
    name = str(spec["name"])
    pattern = _compile(spec["regex"])
    validation: Mapping[str, Any] = spec.get("validation") or {}
    # A key we do not understand could be a rule we would silently skip, so refuse the data.
    unknown = set(validation) - {"checksum", "serial_number_format", "additional"}
    if unknown:
        raise ValueError(f"{source}: {name}: unsupported validation {sorted(unknown)}")

    checksum = None
    if "checksum" in validation:
        checksum = _build_checksum(validation["checksum"])
        missing = {"SerialNumber", "CheckDigit"} - set(pattern.groupindex)
        if missing:
            raise ValueError(f"{source}: {name}: checksum without groups {sorted(missing)}")

    prepend_if = None
    if "serial_number_format" in validation:
        serial_format: Mapping[str, Any] = validation["serial_number_format"]
        if set(serial_format) != {"prepend_if"}:
            raise ValueError(f"{source}: {name}: unsupported serial_number_format")
        rule = serial_format["prepend_if"]
        prepend_if = (_compile(rule["matches_regex"]), str(rule["content"]))

    requirements: Mapping[str, Any] = validation.get("additional") or {}
    if set(requirements) - {"exists"}:
        raise ValueError(f"{source}: {name}: unsupported additional validation")
    additional = tuple(_parse_additional(extra) for extra in spec.get("additional") or ())
    required = tuple(str(label) for label in requirements.get("exists", ()))
    if set(required) - {extra.label for extra in additional}:
        raise ValueError(f"{source}: {name}: requires a lookup it does not define")

    return _Format(source, name, pattern, checksum, prepend_if, additional, required)


def _parse_additional(spec: Mapping[str, Any]) -> _Additional:
    entries = tuple(
        _LookupEntry(
            exact=entry.get("matches"),
            pattern=_compile(entry["matches_regex"]) if entry.get("matches_regex") else None,
            fields={key: value for key, value in entry.items() if isinstance(value, str)},
        )
        for entry in spec["lookup"]
    )
    return _Additional(str(spec["name"]), str(spec["regex_group_name"]), entries)


# --- check digits --------------------------------------------------------------------------------


def _build_checksum(spec: Mapping[str, Any]) -> _Checksum:
    match spec["name"]:
        case "mod10":
            return partial(
                _mod10,
                modulo=int(spec.get("modulo", 10)),
                evens=int(spec.get("evens_multiplier", 1)),
                odds=int(spec.get("odds_multiplier", 1)),
                reverse=bool(spec.get("reverse", False)),
            )
        case "sum_product_with_weightings_and_modulo":
            return partial(
                _sum_product,
                weightings=tuple(int(w) for w in spec["weightings"]),
                modulo1=int(spec["modulo1"]),
                modulo2=int(spec["modulo2"]),
            )
        case "mod7":
            return partial(_mod7, modulo=int(spec.get("modulo", 7)))
        case "s10":
            return partial(
                _s10,
                weightings=tuple(int(w) for w in spec["weightings"]),
                modulo=int(spec.get("modulo", 11)),
            )
        case "luhn":
            return _luhn
        case other:
            raise ValueError(f"unsupported checksum {other!r}")


def _digit(check_digit: str) -> int | None:
    return int(check_digit) if len(check_digit) == 1 and check_digit.isdigit() else None


def _mod10(
    serial: str, check_digit: str, *, modulo: int, evens: int, odds: int, reverse: bool
) -> bool:
    total = 0
    # Positions count from 0, so the first character is an "even" one.
    for position, char in enumerate(reversed(serial) if reverse else serial):
        # UPS folds letters onto digits this way (A=2, B=3, ..., J=1, K=2, ...).
        value = int(char) if char.isdigit() else (ord(char) - 3) % 10
        total += value * (odds if position % 2 else evens)
    return _digit(check_digit) == -total % modulo


def _sum_product(
    serial: str, check_digit: str, *, weightings: tuple[int, ...], modulo1: int, modulo2: int
) -> bool:
    if not serial.isdigit() or len(serial) > len(weightings):
        return False
    total = sum(int(char) * weight for char, weight in zip(serial, weightings, strict=False))
    return _digit(check_digit) == total % modulo1 % modulo2


def _mod7(serial: str, check_digit: str, *, modulo: int) -> bool:
    return serial.isdigit() and _digit(check_digit) == int(serial) % modulo


def _s10(serial: str, check_digit: str, *, weightings: tuple[int, ...], modulo: int) -> bool:
    if not serial.isdigit() or len(serial) != len(weightings):
        return False
    check = modulo - sum(int(c) * w for c, w in zip(serial, weightings, strict=True)) % modulo
    # UPU S10: a would-be 10 is written 0 and a would-be 11 is written 5.
    return _digit(check_digit) == {10: 0, 11: 5}.get(check, check)


def _luhn(serial: str, check_digit: str) -> bool:
    if not serial.isdigit():
        return False
    total = 0
    # Doubling starts at the digit next to the check digit, i.e. from the right.
    for position, char in enumerate(reversed(serial)):
        value = int(char) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return _digit(check_digit) == -total % 10
