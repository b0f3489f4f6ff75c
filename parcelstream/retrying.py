"""How long to wait before trying again: exponential backoff with jitter, and an HTTP Retry-After
header (RFC 9110). Shared by the workers, the providers, the carrier poller and the driver-app
client, so it needs nothing but the standard library."""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Callable
from datetime import UTC


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def backoff(
    base: float,
    cap: float,
    doublings: int,
    factor: float = 2.0,
    rng: Callable[[], float] = random.random,
) -> float:
    """`base * factor**doublings` seconds, at most `cap`, with "equal jitter": half of it fixed,
    half random, so many clients failing together do not retry in step."""
    ceiling = min(cap, base * factor**doublings)
    return ceiling / 2 + rng() * ceiling / 2
