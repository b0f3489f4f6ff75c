"""RFC 3339 instants as (UTC epoch microseconds, offset minutes): parse and format, no clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class BadTimestamp(ValueError):
    pass


def parse_instant(text: str) -> tuple[int, int]:
    """'2026-11-24T08:15:00-05:00' -> (epoch microseconds, -300). The offset is required."""
    if len(text) < 20 or text[10] not in "Tt ":
        raise BadTimestamp("expected an RFC 3339 date-time such as 2026-11-24T08:15:00-05:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadTimestamp(
            "expected an RFC 3339 date-time such as 2026-11-24T08:15:00-05:00"
        ) from None
    offset = moment.utcoffset()
    if offset is None:
        raise BadTimestamp("the time needs a UTC offset (such as -05:00 or Z)")
    delta = moment - _EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return micros, int(offset.total_seconds()) // 60


def format_instant(micros: int, offset_minutes: int = 0) -> str:
    zone = UTC if offset_minutes == 0 else timezone(timedelta(minutes=offset_minutes))
    moment = (_EPOCH + timedelta(microseconds=micros)).astimezone(zone)
    text = moment.isoformat(timespec="microseconds" if micros % 1_000_000 else "seconds")
    return text[:-6] + "Z" if offset_minutes == 0 else text
