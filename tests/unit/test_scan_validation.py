"""One wire scan in, a Scan or every reason it was refused out."""

from __future__ import annotations

import msgspec
import pytest

from parcelstream.domain.errors import Rejection
from parcelstream.domain.scans import Location, Scan, ScanCode
from parcelstream.ingest.schemas import ScanIn
from parcelstream.ingest.validation import scan_from_wire
from parcelstream.wire_errors import rejections_from_msgspec

NOW = 1_795_000_000_000_000  # 2026-11-18T...Z
DAY = 86_400_000_000


def wire(**fields: object) -> ScanIn:
    base: dict[str, object] = {
        "tracking_number": " 1z5r 8939 0357 5671 27 ",
        "facility_id": "ATL-HUB-01",
        "timestamp": "2026-11-18T08:15:00-05:00",
        "status_code": "ARRIVED_AT_FACILITY",
    }
    return msgspec.convert({**base, **fields}, ScanIn)


def fields(result: Scan | list[Rejection]) -> list[str | None]:
    assert isinstance(result, list)
    return [r.field for r in result]


def test_valid_scan_is_normalised() -> None:
    result = scan_from_wire(wire(location={"city": "Atlanta", "country": "us"}), NOW)
    assert isinstance(result, Scan)
    assert result.tracking_number == "1Z5R89390357567127"
    assert result.status_code is ScanCode.ARRIVED_AT_FACILITY
    assert result.utc_offset == -300
    assert result.location == Location(city="Atlanta", country="US")


def test_every_problem_of_one_scan_is_reported() -> None:
    result = scan_from_wire(
        wire(tracking_number="1Z5R89390357567128", status_code="LOST", timestamp="soon"), NOW
    )
    assert fields(result) == ["tracking_number", "status_code", "timestamp"]


def test_future_and_ancient_timestamps_are_refused() -> None:
    assert fields(scan_from_wire(wire(timestamp="2026-11-20T08:15:00Z"), NOW)) == ["timestamp"]
    assert fields(scan_from_wire(wire(timestamp="2020-11-20T08:15:00Z"), NOW)) == ["timestamp"]


def test_exception_needs_a_code_and_codes_have_a_shape() -> None:
    assert fields(scan_from_wire(wire(status_code="EXCEPTION"), NOW)) == ["exception_code"]
    assert fields(
        scan_from_wire(wire(status_code="EXCEPTION", exception_code="bad code"), NOW)
    ) == ["exception_code"]
    ok = scan_from_wire(wire(status_code="EXCEPTION", exception_code="WEATHER_DELAY"), NOW)
    assert isinstance(ok, Scan)
    assert ok.exception_code == "WEATHER_DELAY"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"facility_id": "A", "timestamp": "t", "status_code": "X"}', "tracking_number"),
        (b'{"tracking_number": 5}', "tracking_number"),
        (
            b'{"tracking_number": "x", "facility_id": "A", "timestamp": "t", "status_code": "X", "location": {"city": 7}}',
            "location.city",
        ),
        (
            b'{"tracking_number": "x", "facility_id": "bad id!", "timestamp": "t", "status_code": "X"}',
            "facility_id",
        ),
    ],
)
def test_msgspec_errors_become_field_paths(body: bytes, field: str) -> None:
    with pytest.raises(msgspec.ValidationError) as caught:
        msgspec.json.Decoder(ScanIn).decode(body)
    assert rejections_from_msgspec(caught.value).field == field
