"""One facility CSV file onto the event log: streamed, validated row by row, appended in batches.

The same code serves the drop watcher (files in a folder or an S3 prefix) and
`parcelstream ingest FILE.csv`. Parsing runs in a worker thread, a chunk at a time, so memory is
bounded by the chunk and batch sizes whatever the file's size, and the event loop stays free.

Resuming after a crash. Progress is saved around every chunk's append: first the rows about to
be appended (`appending_through`), then, once the log has them, the rows done and the counts so
far. A resumed ingest judges every row again against the first attempt's clock (so the same rows
are rejected, and the rejects file is complete) but appends only rows after `rows_done`. The log
drops what it already has, so nothing is stored twice. Counts stay exact: rows the log had
already, inside the window a crash left uncertain, cannot be told apart from duplicates the file
itself carried, so they are counted as `replayed`; elsewhere a resend is a true duplicate.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from parcelstream.events import scan_record
from parcelstream.ingest.csv_rows import CsvScanParser, ParsedRows, RowRejection
from parcelstream.storage.ports import DropProgress, EventLog, LogRecord

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
APPEND_BATCH = 5000
MAX_LISTED_REJECTIONS = 100_000
"""Rejections written to the rejects file; beyond this they are only counted (the file is held
in memory until it is stored, and a file of nothing but bad rows should not take gigabytes)."""
_APPEND_ATTEMPTS = 5

SaveProgress = Callable[[DropProgress], Awaitable[None]]


@dataclass(slots=True)
class _Piece:
    parsed: ParsedRows
    records: list[tuple[int, LogRecord]]


class Stopped(Exception):
    """Asked to stop between chunks; the progress saved so far stands."""


class ClaimLost(Exception):
    """Another watcher took the file over (this one was too slow to renew its lease)."""


@dataclass(slots=True)
class CsvReport:
    """The result of one file, as the result JSON and the ledger record it."""

    rows: int = 0
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    replayed: int = 0
    sha256: str = ""
    error: str | None = None
    ignored_columns: list[str] = field(default_factory=list)
    rejections_listed: int = 0
    rejects_csv: bytes = field(default=b"", repr=False)
    """row,field,reason,code: empty when no row was rejected."""


class RejectsWriter:
    def __init__(self, limit: int = MAX_LISTED_REJECTIONS) -> None:
        self._text = io.StringIO()
        self._csv = csv.writer(self._text, lineterminator="\n")
        self._csv.writerow(("row", "field", "reason", "code"))
        self._limit = limit
        self.listed = 0

    def add(self, rejections: Sequence[RowRejection]) -> None:
        room = self._limit - self.listed
        if room <= 0:
            return
        taken = rejections[:room]
        self._csv.writerows((r.row, r.field or "", r.reason, r.code) for r in taken)
        self.listed += len(taken)

    def value(self) -> bytes:
        return self._text.getvalue().encode() if self.listed else b""


async def ingest_csv(
    chunks: AsyncIterator[bytes],
    event_log: EventLog,
    *,
    clock: int,
    progress: DropProgress | None = None,
    save: SaveProgress | None = None,
    batch_size: int = APPEND_BATCH,
    stop: asyncio.Event | None = None,
) -> CsvReport:
    """Ingest the file whose bytes `chunks` yields. `clock` (UTC epoch µs) is the time rows are
    judged against; `progress` is where an earlier attempt stopped. A file that cannot be read
    past some point ends with `error` set and the counts of the rows before it. Raises Stopped
    when `stop` is set before the end."""
    ingest = _Ingest(event_log, clock, progress or DropProgress(), save, batch_size)
    return await ingest.run(chunks, stop)


class _Ingest:
    def __init__(
        self,
        event_log: EventLog,
        clock: int,
        progress: DropProgress,
        save: SaveProgress | None,
        batch_size: int,
    ) -> None:
        self._log = event_log
        self._parser = CsvScanParser(clock)
        self._progress = progress
        self._uncertain_through = progress.appending_through
        self._skip_through = progress.rows_done
        self._save = save
        self._batch_size = batch_size
        self._rejects = RejectsWriter()
        self._report = CsvReport()

    async def run(self, chunks: AsyncIterator[bytes], stop: asyncio.Event | None) -> CsvReport:
        report = self._report
        ready: _Piece | None = None
        async for chunk in chunks:
            if stop is not None and stop.is_set():
                raise Stopped
            # The next chunk parses in a worker thread while the previous one is appended.
            parsing = asyncio.ensure_future(asyncio.to_thread(self._parse, chunk))
            try:
                if ready is not None:
                    await self._take(ready)
            except BaseException:
                parsing.add_done_callback(_discard)
                raise
            ready = await parsing
            if ready.parsed.error:
                break
        if ready is not None:
            await self._take(ready)
        if not (ready and ready.parsed.error):
            await self._take(await asyncio.to_thread(self._parse, None))
        report.accepted = self._progress.accepted
        report.duplicates = self._progress.duplicates
        report.replayed = self._progress.replayed
        report.sha256 = self._parser.sha256
        report.ignored_columns = list(self._parser.ignored_columns)
        report.rejections_listed = self._rejects.listed
        report.rejects_csv = self._rejects.value()
        return report

    def _parse(self, chunk: bytes | None) -> _Piece:
        """In a worker thread: the rows of a chunk (None: the end), and the log records of the
        valid ones not yet appended by an earlier attempt."""
        parsed = self._parser.feed(chunk) if chunk is not None else self._parser.end()
        skip = self._skip_through
        records = [(row, scan_record(scan)) for row, scan in parsed.scans if row > skip]
        return _Piece(parsed, records)

    async def _take(self, piece: _Piece) -> None:
        parsed = piece.parsed
        self._report.rows += parsed.rows
        self._report.rejected += parsed.rejected_rows
        self._report.error = parsed.error
        self._rejects.add(parsed.rejections)
        progress = self._progress
        if piece.records:
            through = max(progress.appending_through, parsed.last_row)
            progress = replace(progress, appending_through=through)
            await self._checkpoint(progress)
            for start in range(0, len(piece.records), self._batch_size):
                batch = piece.records[start : start + self._batch_size]
                progress = await self._append(batch, progress)
        if parsed.last_row > progress.rows_done:
            # Rows up to last_row are settled; the uncertain window only shrinks from here.
            through = max(progress.appending_through, parsed.last_row)
            progress = replace(progress, rows_done=parsed.last_row, appending_through=through)
            await self._checkpoint(progress)
        self._progress = progress

    async def _append(
        self, batch: list[tuple[int, LogRecord]], progress: DropProgress
    ) -> DropProgress:
        resent = await self._append_with_retry([record for _, record in batch])
        accepted, duplicates, replayed = progress.accepted, progress.duplicates, progress.replayed
        for (row, _), again in zip(batch, resent, strict=True):
            if not again:
                accepted += 1
            elif row <= self._uncertain_through:
                replayed += 1
            else:
                duplicates += 1
        return replace(progress, accepted=accepted, duplicates=duplicates, replayed=replayed)

    async def _append_with_retry(self, records: list[LogRecord]) -> list[bool]:
        for attempt in range(1, _APPEND_ATTEMPTS + 1):
            try:
                return await self._log.append(records)
            except Exception as exc:
                if attempt == _APPEND_ATTEMPTS:
                    raise
                wait = 0.5 * 2 ** (attempt - 1)
                log.warning("appending CSV rows failed (%r); retrying in %.1f s", exc, wait)
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")

    async def _checkpoint(self, progress: DropProgress) -> None:
        self._progress = progress
        if self._save is not None:
            await self._save(progress)


def _discard(future: asyncio.Future[_Piece]) -> None:
    """Mark an abandoned parse's outcome as seen (the ingest already failed for another reason)."""
    if not future.cancelled():
        future.exception()


async def file_chunks(path: Path, chunk_size: int = CHUNK_BYTES) -> AsyncIterator[bytes]:
    """A local file's bytes, read in a worker thread a chunk at a time."""
    file = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(file.read, chunk_size):
            yield chunk
    finally:
        file.close()
