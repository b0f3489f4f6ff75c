"""RFC 3339 instants: an offset is required, and formatting gives back the scanner's local time."""

from __future__ import annotations

import pytest

from parcelstream.domain.times import BadTimestamp, format_instant, parse_instant


def test_offset_times_name_the_same_instant() -> None:
    eastern, _ = parse_instant("2026-11-24T08:15:00-05:00")
    utc, _ = parse_instant("2026-11-24T13:15:00Z")
    assert eastern == utc


def test_round_trip_keeps_the_local_offset_and_fraction() -> None:
    for text in (
        "2026-11-24T08:15:00-05:00",
        "2026-11-24T08:15:00.250000+05:30",
        "2026-11-24T13:15:00Z",
    ):
        assert format_instant(*parse_instant(text)) == text


@pytest.mark.parametrize(
    "text", ["2026-11-24T08:15:00", "2026-11-24", "yesterday", "2026-13-24T08:15:00Z", ""]
)
def test_times_without_an_offset_or_garbled_are_refused(text: str) -> None:
    with pytest.raises(BadTimestamp):
        parse_instant(text)
