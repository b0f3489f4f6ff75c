"""Facility CSV files, a chunk of bytes at a time, into validated scans and rejected rows.

A file is a header row naming its columns (any order, any case) and one scan per row:
tracking_number, facility_id, timestamp and status_code are required; employee_id,
exception_code and the location columns city, region, postal_code and country are optional.
Each row is judged by exactly the rules of `POST /v1/scans`. Rows are numbered by the line they
start on, the header being row 1, as an editor or a spreadsheet shows them.

Memory stays bounded: only the record being assembled is carried from one chunk to the next,
and one record may not grow beyond `MAX_RECORD_BYTES` (an unclosed quote would otherwise swallow
the rest of the file).
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field
from typing import Any

import msgspec

from parcelstream.domain.scans import Scan
from parcelstream.ingest.schemas import ScanIn
from parcelstream.ingest.validation import scan_from_wire
from parcelstream.wire_errors import rejections_from_msgspec

REQUIRED_COLUMNS = ("tracking_number", "facility_id", "timestamp", "status_code")
OPTIONAL_COLUMNS = ("employee_id", "exception_code")
LOCATION_COLUMNS = ("city", "region", "postal_code", "country")
MAX_RECORD_BYTES = 64 * 1024
_BOM = b"\xef\xbb\xbf"


class BadFile(Exception):
    """The file cannot be read as a scan CSV from here on (no header, an unclosed quote); the
    parser reports it as `ParsedRows.error` after the rows before it."""


@dataclass(frozen=True, slots=True)
class RowRejection:
    row: int
    field: str | None
    """The CSV column at fault, or None for the row as a whole."""
    reason: str
    code: str


@dataclass(slots=True)
class ParsedRows:
    """What one chunk completed: its rows' scans and rejections, in row order."""

    scans: list[tuple[int, Scan]] = field(default_factory=list)
    rejections: list[RowRejection] = field(default_factory=list)
    rows: int = 0
    """Data rows completed (blank lines are not rows)."""
    rejected_rows: int = 0
    last_row: int = 0
    """Every line up to this one belongs to a completed row."""
    error: str | None = None
    """Why the file cannot be read past `last_row` (BadFile's reason); the rows before stand."""


class CsvScanParser:
    """Feed it the file's bytes in order (`feed`), then call `end`. Not thread-safe; meant to run
    in a worker thread, off the event loop. Once a piece carries an `error`, the rest of the
    file is not read."""

    def __init__(self, now_us: int) -> None:
        self._now = now_us
        self._tail = b""
        self._record: list[bytes] = []
        self._record_bytes = 0
        self._quotes = 0
        self._line = 0
        self._record_start = 0
        self._last_complete = 0
        self._columns: list[tuple[int, str]] | None = None
        self._width = 0
        self.ignored_columns: list[str] = []
        self._hash = hashlib.sha256()
        self._broken: str | None = None

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def feed(self, chunk: bytes) -> ParsedRows:
        out = ParsedRows()
        if self._broken:
            out.error = self._broken
            return out
        self._hash.update(chunk)
        lines = (self._tail + chunk).split(b"\n")
        self._tail = lines.pop()
        try:
            for line in lines:
                self._take_line(line + b"\n", out)
            if len(self._tail) > MAX_RECORD_BYTES:
                raise BadFile(f"row {self._line + 1}: a line longer than {MAX_RECORD_BYTES} bytes")
        except BadFile as exc:
            self._broken = out.error = str(exc)
        out.last_row = self._last_complete
        return out

    def end(self) -> ParsedRows:
        """The last line (if the file does not end with a newline) and any unfinished record."""
        out = ParsedRows()
        if self._broken:
            out.error = self._broken
            return out
        try:
            if self._tail:
                self._take_line(self._tail, out)
                self._tail = b""
            if self._record:
                row = self._record_start
                self._record = []
                out.rows += 1
                reason = "a quoted field is never closed"
                self._reject(out, RowRejection(row, None, reason, "malformed"))
                self._last_complete = self._line
            if self._columns is None:
                raise BadFile("the file is empty: the first row must name the columns")
        except BadFile as exc:
            self._broken = out.error = str(exc)
        out.last_row = self._last_complete
        return out

    def _take_line(self, line: bytes, out: ParsedRows) -> None:
        self._line += 1
        if not self._record:
            self._record_start = self._line
        self._record.append(line)
        self._record_bytes += len(line)
        self._quotes += line.count(b'"')
        if self._quotes % 2:  # inside a quoted field: the record goes on on the next line
            if self._record_bytes > MAX_RECORD_BYTES:
                raise BadFile(
                    f"row {self._record_start}: a quoted field is never closed (over"
                    f" {MAX_RECORD_BYTES} bytes)"
                )
            return
        raw = b"".join(self._record) if len(self._record) > 1 else line
        self._record = []
        self._record_bytes = self._quotes = 0
        self._take_record(raw, self._record_start, out)
        self._last_complete = self._line

    def _take_record(self, raw: bytes, row: int, out: ParsedRows) -> None:
        if row == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM) :]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            if self._columns is None:
                raise BadFile(f"row {row}: not UTF-8 text ({exc.reason})") from None
            out.rows += 1
            self._reject(out, RowRejection(row, None, "not UTF-8 text", "encoding"))
            return
        cells = next(csv.reader((text,)), [])
        if not any(cell.strip() for cell in cells):
            return  # a blank line
        if self._columns is None:
            self._read_header(cells, row)
            return
        out.rows += 1
        if len(cells) > self._width:
            reason = f"{len(cells)} cells, but the header names {self._width} columns"
            self._reject(out, RowRejection(row, None, reason, "malformed"))
            return
        result = self._scan(cells)
        if isinstance(result, Scan):
            out.scans.append((row, result))
            return
        out.rejected_rows += 1
        out.rejections.extend(RowRejection(row, f, reason, code) for f, reason, code in result)

    def _reject(self, out: ParsedRows, rejection: RowRejection) -> None:
        out.rejected_rows += 1
        out.rejections.append(rejection)

    def _read_header(self, cells: list[str], row: int) -> None:
        names = [cell.strip().lower() for cell in cells]
        known = (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS, *LOCATION_COLUMNS)
        missing = [name for name in REQUIRED_COLUMNS if name not in names]
        if missing:
            raise BadFile(
                f"row {row}: the header lacks {', '.join(missing)}; it must name the columns"
                f" {', '.join(REQUIRED_COLUMNS)} and may add {', '.join(known[4:])}"
            )
        twice = sorted({name for name in names if name and names.count(name) > 1})
        if twice:
            raise BadFile(f"row {row}: the header names {', '.join(twice)} more than once")
        self._columns = [(index, name) for index, name in enumerate(names) if name in known]
        self.ignored_columns = [name for name in names if name not in known]
        self._width = len(names)

    def _scan(self, cells: list[str]) -> Scan | list[tuple[str | None, str, str]]:
        assert self._columns is not None
        item: dict[str, Any] = {}
        location: dict[str, str] = {}
        for index, name in self._columns:
            value = cells[index].strip() if index < len(cells) else ""
            if not value:
                continue
            if name in LOCATION_COLUMNS:
                location[name] = value
            else:
                item[name] = value
        if location:
            item["location"] = location
        try:
            result = scan_from_wire(msgspec.convert(item, ScanIn), self._now)
        except msgspec.ValidationError as exc:
            result = [rejections_from_msgspec(exc)]
        if isinstance(result, Scan):
            return result
        # The API names location fields location.city; the CSV has a plain city column.
        return [(_column(r.field), r.reason, r.code) for r in result]


def _column(name: str | None) -> str | None:
    if name is not None and name.startswith("location."):
        return name.removeprefix("location.")
    return name
