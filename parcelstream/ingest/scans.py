"""POST /v1/scans as a service: validate each scan on its own, append the good ones durably."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import msgspec

from parcelstream.domain.errors import RejectedInput, Rejection
from parcelstream.domain.scans import Scan
from parcelstream.events import scan_record
from parcelstream.ingest.schemas import ScanBatchIn, ScanIn
from parcelstream.ingest.validation import scan_from_wire
from parcelstream.storage.ports import EventLog
from parcelstream.wire_errors import rejections_from_msgspec

MAX_BATCH = 5000
# Validating a few hundred scans takes under a millisecond; bigger batches go to a thread so that
# lookups on the event loop are not held up behind them.
_INLINE_BATCH = 200

_batch_decoder = msgspec.json.Decoder(ScanBatchIn)
_scan_decoder = msgspec.json.Decoder(ScanIn)


@dataclass(frozen=True, slots=True)
class ItemError:
    index: int
    field: str | None
    reason: str
    code: str


@dataclass(slots=True)
class BatchOutcome:
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    errors: list[ItemError] = field(default_factory=list)


class ScanIntake:
    def __init__(self, log: EventLog, clock: Callable[[], int], max_batch: int = MAX_BATCH) -> None:
        self._log = log
        self._clock = clock
        self._max_batch = max_batch

    async def submit(self, body: bytes) -> BatchOutcome:
        try:
            batch = _batch_decoder.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise RejectedInput(_envelope_problem(exc)) from None
        if len(batch.scans) > self._max_batch:
            raise RejectedInput(
                Rejection(
                    "scans",
                    f"a batch holds at most {self._max_batch} scans; this one has"
                    f" {len(batch.scans)}: split it",
                    "batch_too_large",
                )
            )
        now = self._clock()
        if len(batch.scans) > _INLINE_BATCH:
            scans, outcome = await asyncio.to_thread(_validate, batch.scans, now)
        else:
            scans, outcome = _validate(batch.scans, now)
        if scans:
            outcome.accepted, outcome.duplicates = await self.append(scans)
        return outcome

    async def append(self, scans: Sequence[Scan]) -> tuple[int, int]:
        """Already-validated scans (from carrier adapters) onto the log, durably:
        (accepted, duplicates the log recognised as resends)."""
        if not scans:
            return 0, 0
        resent = await self._log.append([scan_record(scan) for scan in scans])
        duplicates = sum(resent)
        return len(scans) - duplicates, duplicates


def _validate(items: list[msgspec.Raw], now_us: int) -> tuple[list[Scan], BatchOutcome]:
    outcome = BatchOutcome()
    scans: list[Scan] = []
    for index, raw in enumerate(items):
        try:
            result = scan_from_wire(_scan_decoder.decode(raw), now_us)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            result = [rejections_from_msgspec(exc)]
        if isinstance(result, Scan):
            scans.append(result)
            continue
        outcome.rejected += 1
        outcome.errors.extend(ItemError(index, r.field, r.reason, r.code) for r in result)
    return scans, outcome


def _envelope_problem(exc: msgspec.DecodeError | msgspec.ValidationError) -> Rejection:
    rejection = rejections_from_msgspec(exc)
    if not isinstance(exc, msgspec.ValidationError):
        return rejection
    return Rejection(
        rejection.field or "scans",
        'expected {"scans": [scan, ...]}: ' + rejection.reason,
        "malformed",
    )
