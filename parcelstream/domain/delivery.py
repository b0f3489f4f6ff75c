"""Which scan's proof of delivery a package shows, and who may see the private part of it."""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable

from parcelstream.domain.scans import Scan, ScanCode

_US_ZIP = re.compile(r"(\d{5})(?:-?\d{4})?")


def proof_scan(history: Iterable[Scan]) -> Scan | None:
    """The first DELIVERED scan (in the order given: event order) that carries proof."""
    for scan in history:
        if scan.status_code is ScanCode.DELIVERED and scan.proof is not None:
            return scan
    return None


def normalize_postal_code(code: str) -> str:
    """Case and spaces ignored ("sw1a 1aa" is "SW1A1AA"); a US ZIP+4 counts as its ZIP."""
    compact = "".join(code.split()).upper()
    zip_code = _US_ZIP.fullmatch(compact)
    return zip_code.group(1) if zip_code else compact


def postal_codes_match(given: str | None, expected: str | None) -> bool:
    """Whether the caller knows the destination postal code. Compared in constant time for a
    given length, and as much work when there is nothing to compare against."""
    left = normalize_postal_code(given or "").encode()
    right = normalize_postal_code(expected or "").encode()
    same = hmac.compare_digest(left, right if right else b"\x00" * len(left))
    return same and bool(left) and bool(right)
