"""The drop watcher: picks up each new CSV file in the drop folder or S3 prefix, once.

Convention for facility systems: write `name.csv.part` (or any other name) and rename it to
`name.csv` when complete; S3 uploads appear whole anyway. Only names ending in `.csv` are taken,
and only once unchanged for `settle_seconds` (a writer that writes `name.csv` in place is given
that long between writes). Results go to `_results/<name>.result.json` and, when rows were
rejected, `_results/<name>.rejects.csv` (row, field, reason, code).

Exactly once: a file version (key, etag, size) is claimed in the drop ledger before it is read
and finished after its results are stored; the ledger outlives restarts and is shared by every
watcher, so no version is ingested twice, and one whose watcher died is resumed by whoever claims
it once its lease has run out (see csv_drops for how counts stay right). A file the watcher
cannot read (no header, not UTF-8) is finished as failed, with the reason in its result.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from parcelstream.ingest.csv_drops import ClaimLost, CsvReport, Stopped, ingest_csv
from parcelstream.storage.blobs.keys import check_key
from parcelstream.storage.ports import (
    BlobInfo,
    BlobNotFound,
    BlobStore,
    DropClaim,
    DropFile,
    DropLedger,
    DropOutcome,
    DropProgress,
    EventLog,
)

log = logging.getLogger(__name__)

RESULTS_PREFIX = "_results/"
LEASE_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class DropResult:
    file: DropFile
    report: CsvReport
    claims: int
    state: str

    def as_json(self) -> dict[str, object]:
        return {
            "file": self.file.key,
            "etag": self.file.etag,
            "size": self.file.size,
            "sha256": self.report.sha256,
            "state": self.state,
            "rows": self.report.rows,
            "accepted": self.report.accepted,
            "rejected": self.report.rejected,
            "duplicates": self.report.duplicates,
            "replayed": self.report.replayed,
            "error": self.report.error,
            "ignored_columns": self.report.ignored_columns,
            "rejects_file": results_key(self.file.key, "rejects.csv")
            if self.report.rejects_csv
            else None,
            "rejections_listed": self.report.rejections_listed,
            "attempts": self.claims,
        }


def results_key(key: str, suffix: str) -> str:
    return f"{RESULTS_PREFIX}{key}.{suffix}"


def new_owner() -> str:
    """Names this watcher in the ledger: unique per process, readable in a result."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class DropWatcher:
    def __init__(
        self,
        store: BlobStore,
        ledger: DropLedger,
        event_log: EventLog,
        clock: Callable[[], int],
        *,
        poll_seconds: float = 5.0,
        settle_seconds: float = 2.0,
        lease_seconds: float = LEASE_SECONDS,
        owner: str | None = None,
    ) -> None:
        self._store = store
        self._ledger = ledger
        self._log = event_log
        self._clock = clock
        self._poll = poll_seconds
        self._settle_us = int(settle_seconds * 1_000_000)
        self._lease_us = int(lease_seconds * 1_000_000)
        self.owner = owner or new_owner()
        self._settled: set[DropFile] = set()
        self._unusable: set[str] = set()

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set; the file in hand is finished first (its progress is saved
        as it goes, so a hard kill only costs the lease's wait)."""
        log.info("drop watcher %s polling every %.1f s", self.owner, self._poll)
        while not stop.is_set():
            try:
                await self.poll(stop)
            except Exception as exc:
                log.warning("drop watcher: %r; trying again in %.1f s", exc, self._poll)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._poll)

    async def poll(self, stop: asyncio.Event | None = None) -> list[DropResult]:
        """Ingest every new settled file once; returns what this call finished."""
        finished: list[DropResult] = []
        listed = await self._store.list("")
        # Forget files that are gone (archived or deleted), so the cache stays the folder's size.
        self._settled &= {DropFile(info.key, info.etag, info.size) for info in listed}
        for info in listed:
            if stop is not None and stop.is_set():
                break
            file = DropFile(info.key, info.etag, info.size)
            if file in self._settled or not self._is_ready(info):
                continue
            try:
                result = await self._take(file, stop)
            except Stopped:
                break
            except ClaimLost:
                log.warning("drop %s: another watcher took it over", file.key)
                continue
            except Exception as exc:
                # Storage or the log failing: the claim and its progress stay, and the next
                # poll resumes; meanwhile the other files get their turn.
                log.warning("drop %s: interrupted (%r); will resume", file.key, exc)
                continue
            if result is not None:
                finished.append(result)
        return finished

    def _is_ready(self, info: BlobInfo) -> bool:
        if info.key.startswith(RESULTS_PREFIX) or not info.key.lower().endswith(".csv"):
            return False
        if info.key in self._unusable:
            return False
        try:
            check_key(info.key)
        except ValueError as exc:
            self._unusable.add(info.key)
            log.warning("drop %r skipped: %s", info.key, exc)
            return False
        age = self._clock() - int(info.modified.timestamp() * 1_000_000)
        return age >= self._settle_us

    async def _take(self, file: DropFile, stop: asyncio.Event | None) -> DropResult | None:
        claim = await self._ledger.claim(file, self.owner, self._clock(), self._lease_us)
        if claim is None:
            records = await self._ledger.records(file.key)
            if any(r.file == file and r.state != "ingesting" for r in records):
                self._settled.add(file)
            return None
        if claim.claims > 1:
            log.info("drop %s: resuming after row %d", file.key, claim.progress.rows_done)
        else:
            log.info("drop %s: ingesting (%d bytes)", file.key, file.size)
        saved = [claim.progress]
        try:
            report = await ingest_csv(
                self._store.stream(file.key),
                self._log,
                clock=claim.clock,
                progress=claim.progress,
                save=lambda progress: self._save(claim, progress, saved),
                stop=stop,
            )
        except BlobNotFound:
            report = CsvReport(error="the file disappeared before it was read")
        except Stopped:
            # Let whoever starts next resume at once instead of waiting out the lease.
            await self._ledger.checkpoint(file, self.owner, saved[0], self._clock())
            log.info("drop %s: stopped after row %d", file.key, saved[0].rows_done)
            raise
        result = DropResult(file, report, claim.claims, "failed" if report.error else "done")
        await self._store_results(result)
        outcome = DropOutcome(
            rows=report.rows,
            accepted=report.accepted,
            rejected=report.rejected,
            duplicates=report.duplicates,
            replayed=report.replayed,
            sha256=report.sha256,
            error=report.error,
        )
        if not await self._ledger.finish(file, self.owner, outcome, self._clock()):
            raise ClaimLost(file.key)
        self._settled.add(file)
        log.info(
            "drop %s: %s, %d rows: %d accepted, %d rejected, %d duplicates",
            file.key,
            result.state,
            report.rows,
            report.accepted,
            report.rejected,
            report.duplicates,
        )
        return result

    async def _save(
        self, claim: DropClaim, progress: DropProgress, saved: list[DropProgress]
    ) -> None:
        until = self._clock() + self._lease_us
        if not await self._ledger.checkpoint(claim.file, self.owner, progress, until):
            raise ClaimLost(claim.file.key)
        saved[0] = progress

    async def _store_results(self, result: DropResult) -> None:
        body = dict(result.as_json())
        body["finished_at"] = datetime.fromtimestamp(self._clock() / 1e6, UTC).isoformat()
        if result.report.rejects_csv:
            await self._store.put(
                results_key(result.file.key, "rejects.csv"), result.report.rejects_csv, "text/csv"
            )
        await self._store.put(
            results_key(result.file.key, "result.json"),
            json.dumps(body, indent=2).encode(),
            "application/json",
        )
