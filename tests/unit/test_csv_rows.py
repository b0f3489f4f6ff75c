"""Facility CSV parsing: rows judged by the API's rules, numbered as an editor shows them, the
same whatever the chunk boundaries, in bounded memory."""

from __future__ import annotations

import random
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from parcelstream.domain.scans import Location, ScanCode
from parcelstream.ingest.csv_rows import CsvScanParser, ParsedRows, RowRejection
from tests.e2e.workload import ups_number

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
NOW_US = int(NOW.timestamp() * 1_000_000)
TN = "1Z5R89390357567127"
HEADER = "tracking_number,facility_id,timestamp,status_code,employee_id,city,region,postal_code,country\n"


def parse(data: bytes, chunk: int | None = None) -> tuple[CsvScanParser, ParsedRows]:
    parser = CsvScanParser(NOW_US)
    total = ParsedRows()
    pieces = [data] if chunk is None else [data[i : i + chunk] for i in range(0, len(data), chunk)]
    for part in [*(parser.feed(p) for p in pieces), parser.end()]:
        total.scans += part.scans
        total.rejections += part.rejections
        total.rows += part.rows
        total.rejected_rows += part.rejected_rows
        total.last_row = max(total.last_row, part.last_row)
        total.error = total.error or part.error
    return parser, total


def test_a_row_becomes_the_scan_the_api_would_make() -> None:
    data = (
        HEADER
        + f"{TN},ATL-HUB-01,2026-11-24T08:15:00-05:00,ARRIVED_AT_FACILITY,E1042,Atlanta,GA,30336,us\n"
    ).encode()
    _, parsed = parse(data)
    [(row, scan)] = parsed.scans
    assert row == 2
    assert scan.tracking_number == TN
    assert scan.status_code is ScanCode.ARRIVED_AT_FACILITY
    assert scan.utc_offset == -300
    assert scan.employee_id == "E1042"
    assert scan.location == Location("Atlanta", "GA", "30336", "US")


def test_bad_rows_are_rejected_naming_row_column_and_reason() -> None:
    data = (
        HEADER
        + f"{TN},ATL-HUB-01,2026-11-24T08:15:00Z,ARRIVED_AT_FACILITY,,,,,\n"
        + "\n"  # blank lines are skipped but keep their line number
        + "1Z999,ATL-HUB-01,2026-11-24T08:15:00Z,ARRIVED_AT_FACILITY,,,,,\n"
        + f"{TN},ATL-HUB-01,yesterday,ARRIVED_AT_FACILITY,,,,,\n"
        + f"{TN},ATL-HUB-01,2026-11-24T09:00:00Z,EXCEPTION,,,,,\n"
        + f"{TN},,2026-11-24T09:00:00Z,PICKED_UP,,,,,\n"
        + f"{TN},ATL-HUB-01,2026-11-24T09:00:00Z,PICKED_UP,,Atlanta,GA,30336,USA\n"
        + f"{TN},ATL-HUB-01,2026-11-24T09:00:00Z,PICKED_UP,,,,,,surplus\n"
    ).encode()
    _, parsed = parse(data)
    assert [row for row, _ in parsed.scans] == [2]
    assert (parsed.rows, parsed.rejected_rows) == (7, 6)
    by_row = {r.row: (r.field, r.code) for r in parsed.rejections}
    assert by_row == {
        4: ("tracking_number", "invalid_tracking_number"),
        5: ("timestamp", "invalid"),
        6: ("exception_code", "missing"),
        7: ("facility_id", "missing"),
        8: ("country", "invalid"),
        9: (None, "malformed"),
    }
    assert all(r.reason for r in parsed.rejections)


def test_columns_may_come_in_any_order_and_case_and_unknown_ones_are_reported() -> None:
    data = (
        "Status_Code,Timestamp,Notes,Facility_ID,Tracking_Number\n"
        f"PICKED_UP,2026-11-24T08:15:00Z,fragile,ATL-HUB-01,{TN}\n"
    ).encode()
    parser, parsed = parse(data)
    assert [scan.status_code for _, scan in parsed.scans] == [ScanCode.PICKED_UP]
    assert parser.ignored_columns == ["notes"]


def test_a_header_without_a_required_column_makes_the_file_unreadable() -> None:
    _, parsed = parse(b"tracking_number,facility_id,timestamp\n" + HEADER.encode())
    assert parsed.error is not None
    assert "row 1: the header lacks status_code" in parsed.error
    assert parsed.rows == 0
    _, parsed = parse(b"\n\n")
    assert parsed.error is not None
    assert "empty" in parsed.error


def test_quoted_fields_may_hold_commas_quotes_and_newlines() -> None:
    data = (
        HEADER
        + f'{TN},ATL-HUB-01,2026-11-24T08:15:00Z,PICKED_UP,E1,"Atlanta, ""Metro""\nEast",GA,,\n'
        + f"{TN},ATL-HUB-01,2026-11-24T09:15:00Z,IN_TRANSIT,E1,,,,\n"
    ).encode()
    _, parsed = parse(data)
    assert [row for row, _ in parsed.scans] == [2, 4]
    assert parsed.scans[0][1].location == Location('Atlanta, "Metro"\nEast', "GA", None, None)


def test_a_byte_order_mark_and_crlf_line_ends_are_fine() -> None:
    data = (
        b"\xef\xbb\xbf"
        + (HEADER + f"{TN},ATL-HUB-01,2026-11-24T08:15:00Z,PICKED_UP,,,,,\n")
        .replace("\n", "\r\n")
        .encode()
    )
    _, parsed = parse(data)
    assert len(parsed.scans) == 1
    assert parsed.rejections == []


def test_a_row_that_is_not_utf8_is_rejected_alone() -> None:
    data = (
        HEADER.encode()
        + f"{TN},ATL-HUB-01,2026-11-24T08:15:00Z,PICKED_UP,,M".encode()
        + b"\xfcnchen,,,\n"
        + f"{TN},ATL-HUB-01,2026-11-24T09:15:00Z,IN_TRANSIT,,,,,\n".encode()
    )
    _, parsed = parse(data)
    assert [row for row, _ in parsed.scans] == [3]
    assert parsed.rejections == [RowRejection(2, None, "not UTF-8 text", "encoding")]


def test_an_unclosed_quote_stops_the_file_after_the_rows_before_it() -> None:
    good = f"{TN},ATL-HUB-01,2026-11-24T08:15:00Z,PICKED_UP,,,,,\n"
    data = (HEADER + good + f'{TN},ATL-HUB-01,"2026-11-24,PICKED_UP,,,,,\n').encode()
    data += b"x,y\n" * 20_000
    _, parsed = parse(data, chunk=4096)
    assert parsed.error is not None
    assert "row 3: a quoted field is never closed" in parsed.error
    assert [row for row, _ in parsed.scans] == [2]


def sample_file(rng: random.Random, rows: int) -> bytes:
    lines = [HEADER]
    for n in range(rows):
        moment = (NOW - timedelta(minutes=n)).isoformat()
        number = ups_number(rng) if n % 7 else "1Z999"
        lines.append(f'{number},ATL-HUB-01,{moment},PICKED_UP,E{n},"Atlanta, GA",GA,30336,US\n')
        if n % 50 == 0:
            lines.append("\n")
    return "".join(lines).encode()


@pytest.mark.parametrize("chunk", [1, 7, 64, 4096])
def test_chunk_boundaries_change_nothing(chunk: int) -> None:
    data = sample_file(random.Random(3), 300)
    whole_parser, whole = parse(data)
    chunked_parser, chunked = parse(data, chunk)
    assert chunked.scans == whole.scans
    assert chunked.rejections == whole.rejections
    assert (chunked.rows, chunked.rejected_rows) == (whole.rows, whole.rejected_rows) == (300, 43)
    assert chunked_parser.sha256 == whole_parser.sha256


def test_memory_stays_bounded_however_long_the_file() -> None:
    rng = random.Random(5)
    row = sample_file(rng, 1).split(b"\n", 1)[1]

    def chunks(rows: int) -> Iterator[bytes]:
        yield HEADER.encode()
        block = row * 500  # ~50 kB
        for _ in range(rows // 500):
            yield block

    peaks = []
    for rows in (1_000, 1_000, 10_000):  # the first warms caches up
        parser = CsvScanParser(NOW_US)
        tracemalloc.start()
        seen = 0
        for chunk in chunks(rows):
            seen += parser.feed(chunk).rows
        seen += parser.end().rows
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert seen == rows
    # Ten times the rows, the same peak: nothing is kept per row (50 bytes a row would add 500 kB).
    assert peaks[2] < 1.2 * peaks[1] + 200_000, peaks
