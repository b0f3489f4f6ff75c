"""Lookups read the fast copy (Redis) first and fall back to the ledger's documents (PostgreSQL).

`ReadThroughModel` is the ReadModel the scaled-out API holds. A miss is answered from the fallback
and copied into the sink in the background (lazy rebuild), so a Redis that lost its data refills
from the traffic; `rebuild` (behind `parcelstream rebuild-read-model`) refills it all at once.
When the sink fails, lookups are answered from the fallback and the sink is left alone for
`retry_after` seconds before one lookup tries it again (a circuit breaker): a dead or hanging Redis
costs one failed attempt per interval, not one per lookup. Every write into the sink is
version-guarded, so none of this can replace a newer document with an older one.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol

from redis.exceptions import RedisError

from parcelstream.storage.ports import DocumentSink, StoredDocument, VersionedDocument

log = logging.getLogger(__name__)

# What a sink raises when it is down or slow. OSError covers refused and reset connections and
# the builtin TimeoutError; redis-py wraps most of those in its own RedisError subclasses.
SINK_ERRORS: tuple[type[Exception], ...] = (RedisError, OSError)
_CLOSE_GRACE = 1.0


class VersionedReadModel(Protocol):
    """What the fallback (the PostgreSQL ledger's documents) offers the read-through and rebuild."""

    async def versioned_document(self, tracking_number: str) -> VersionedDocument | None:
        """The package's current document and its version; None for an unknown package."""
        ...

    def iter_documents(self, batch: int) -> AsyncIterator[list[VersionedDocument]]:
        """Every stored document, in lists of at most `batch` (an `async def` generator).

        Each document stored when the iteration starts is yielded at least once, at that version
        or a newer one; documents changed meanwhile may come at either version (the sink keeps
        the newest). Nothing may be held open across the whole iteration that blocks writers.
        """
        ...


@dataclass
class ReadThroughStats:
    """Counters for health and metrics endpoints; reset only by a restart."""

    sink_hits: int = 0
    fallback_reads: int = 0
    sink_failures: int = 0
    outages: int = 0
    write_backs: int = 0
    write_backs_failed: int = 0
    write_backs_dropped: int = 0


class _Attempt(enum.Enum):
    NORMAL = enum.auto()
    PROBE = enum.auto()


class _Breaker:
    """Closed while the sink works; open for `retry_after` seconds after it fails."""

    def __init__(
        self, name: str, retry_after: float, clock: Callable[[], float], stats: ReadThroughStats
    ) -> None:
        self._name = name
        self._retry_after = retry_after
        self._clock = clock
        self._stats = stats
        self._retry_at: float | None = None  # None: closed
        self._down_since = 0.0

    def attempt(self) -> _Attempt | None:
        """Whether this lookup may use the sink; None means go straight to the fallback."""
        if self._retry_at is None:
            return _Attempt.NORMAL
        now = self._clock()
        if now < self._retry_at:
            return None
        # This lookup is the probe. Re-arm at once, so the lookups arriving while it runs (maybe
        # for a whole socket timeout) skip the sink, and a cancelled probe cannot wedge it open.
        self._retry_at = now + self._retry_after
        return _Attempt.PROBE

    def succeeded(self, attempt: _Attempt) -> None:
        # Only the probe closes: a lookup that started before the outage and finished just after
        # it was detected proves nothing about the sink now.
        if attempt is _Attempt.PROBE and self._retry_at is not None:
            self._retry_at = None
            log.info(
                "%s is back after %.1f s; lookups read it again",
                self._name,
                self._clock() - self._down_since,
            )

    def failed(self, error: Exception) -> None:
        now = self._clock()
        if self._retry_at is None:
            self._down_since = now
            self._stats.outages += 1
            log.warning(
                "%s is unavailable (%s: %s); answering lookups from the fallback, retrying every"
                " %.1f s",
                self._name,
                type(error).__name__,
                error,
                self._retry_after,
            )
        self._retry_at = now + self._retry_after


class ReadThroughModel:
    """Implements ReadModel: the sink when it has the document, else the fallback."""

    def __init__(
        self,
        sink: DocumentSink,
        fallback: VersionedReadModel,
        *,
        retry_after: float = 1.0,
        max_pending_writes: int = 1000,
        sink_errors: tuple[type[Exception], ...] = SINK_ERRORS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sink = sink
        self._fallback = fallback
        self._sink_errors = sink_errors
        self._max_pending = max_pending_writes
        # Strong references: the event loop keeps only weak ones to tasks, and a write-back
        # collected mid-flight would vanish without a trace.
        self._pending: set[asyncio.Task[None]] = set()
        self.stats = ReadThroughStats()
        self._breaker = _Breaker(repr(sink), retry_after, clock, self.stats)

    async def document(self, tracking_number: str) -> StoredDocument | None:
        attempt = self._breaker.attempt()
        if attempt is None:
            return await self._from_fallback(tracking_number, write_back=False)
        try:
            found = await self._sink.document(tracking_number)
        except self._sink_errors as error:
            self.stats.sink_failures += 1
            self._breaker.failed(error)
            return await self._from_fallback(tracking_number, write_back=False)
        self._breaker.succeeded(attempt)
        if found is None:
            return await self._from_fallback(tracking_number, write_back=True)
        self.stats.sink_hits += 1
        return found

    async def close(self) -> None:
        """Let pending write-backs finish, for a second at most (they only save reads)."""
        if not self._pending:
            return
        _, late = await asyncio.wait(set(self._pending), timeout=_CLOSE_GRACE)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)

    async def _from_fallback(
        self, tracking_number: str, *, write_back: bool
    ) -> StoredDocument | None:
        self.stats.fallback_reads += 1
        found = await self._fallback.versioned_document(tracking_number)
        if found is None:
            return None
        if write_back:
            self._write_back(found)
        return found.document

    def _write_back(self, document: VersionedDocument) -> None:
        # Fire and forget: the answer is ready, the copy only spares the next lookup a fallback
        # read. Bounded, so a flood of misses cannot pile up tasks without limit.
        if len(self._pending) >= self._max_pending:
            self.stats.write_backs_dropped += 1
            return
        task = asyncio.create_task(self._put_quietly(document))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _put_quietly(self, document: VersionedDocument) -> None:
        try:
            await self._sink.put_documents([document])
        except self._sink_errors as error:
            # Routine while the sink is down or refilling; the next miss tries again.
            self.stats.write_backs_failed += 1
            log.debug("write-back of %s failed: %s", document.tracking_number, error)
        else:
            self.stats.write_backs += 1


async def rebuild(source: VersionedReadModel, sink: DocumentSink, batch: int = 1000) -> int:
    """Copy every document from `source` into `sink`; returns how many were offered.

    Safe while processors write: the sink keeps the newer of two versions, so a document read
    here before a change and written after it changes nothing. Safe to rerun after a failure.
    """
    copied = 0
    documents = source.iter_documents(batch)
    try:
        async for chunk in documents:
            await sink.put_documents(chunk)
            copied += len(chunk)
            if copied // 100_000 != (copied - len(chunk)) // 100_000:
                log.info("rebuild: %d documents copied so far", copied)
    finally:
        # Release the source's cursor or connection now, not whenever the generator is collected.
        close = getattr(documents, "aclose", None)
        if close is not None:
            await close()
    log.info("rebuild: %d documents copied into %r", copied, sink)
    return copied
