"""msgspec's decode errors as Rejections that name the field plainly (`location.city`)."""

from __future__ import annotations

import re

import msgspec

from parcelstream.domain.errors import Rejection


def rejections_from_msgspec(error: msgspec.ValidationError | msgspec.DecodeError) -> Rejection:
    """msgspec says "Expected `str`, got `int` - at `$.location.city`"; name the field plainly."""
    message = str(error)
    path = ""
    if " - at `$" in message:
        message, _, where = message.rpartition(" - at `$")
        path = where.rstrip("`").lstrip(".")
    missing = re.match(r"Object missing required field `([^`]+)`", message)
    if missing:
        name = missing.group(1)
        return Rejection(f"{path}.{name}" if path else name, "is required", "missing")
    # ValidationError subclasses DecodeError: a body of the wrong shape is still well-formed.
    if not isinstance(error, msgspec.ValidationError):
        return Rejection(path or None, f"not valid JSON: {message}", "malformed_json")
    return Rejection(path or None, _plain(message), "invalid")


def _plain(message: str) -> str:
    return message.replace("`", "").replace("Expected", "expected", 1)
