"""Lookups through Redis with PostgreSQL's role played by an in-memory store: served from Redis,
refilled on a miss, answered from the fallback while a real redis-server is killed or frozen,
refilled after it comes back empty, and rebuilt in bulk."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest

from parcelstream.storage.ports import StoredDocument, VersionedDocument
from parcelstream.storage.read_through import SINK_ERRORS, ReadThroughModel, rebuild
from parcelstream.storage.redis import RedisDocuments
from tests.backends.redis import RedisServer, private_redis

RETRY_AFTER = 0.3
_LOGGER = "parcelstream.storage.read_through"


class MemoryDocuments:
    """The fallback as the PostgreSQL adapter behaves: versioned documents, streamed in batches."""

    def __init__(self, documents: Iterable[VersionedDocument] = ()) -> None:
        self._documents = {d.tracking_number: d for d in documents}
        self.reads = 0

    async def versioned_document(self, tracking_number: str) -> VersionedDocument | None:
        self.reads += 1
        await asyncio.sleep(0)  # a real store gives the loop a turn
        return self._documents.get(tracking_number)

    async def iter_documents(self, batch: int) -> AsyncIterator[list[VersionedDocument]]:
        numbers = sorted(self._documents)
        for start in range(0, len(numbers), batch):
            yield [self._documents[n] for n in numbers[start : start + batch]]


def make_documents(count: int, version: int = 1) -> list[VersionedDocument]:
    return [
        VersionedDocument(
            f"1ZTEST{i:010d}",
            version,
            StoredDocument(f'{{"n":{i},"v":{version}}}'.encode(), f'"{i}-{version}"', "IN_TRANSIT"),
        )
        for i in range(count)
    ]


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RedisServer]:
    async with private_redis(tmp_path) as started:
        yield started


@pytest.fixture
async def sink(server: RedisServer) -> AsyncIterator[RedisDocuments]:
    documents = RedisDocuments(server.url)
    try:
        yield documents
    finally:
        await documents.close()


async def wait_until_stored(
    sink: RedisDocuments, documents: list[VersionedDocument], seconds: float = 5.0
) -> None:
    deadline = time.monotonic() + seconds
    missing = list(documents)
    while missing:
        missing = [d for d in missing if await sink.document(d.tracking_number) != d.document]
        if missing and time.monotonic() > deadline:
            raise AssertionError(f"{len(missing)} documents never reached Redis")
        await asyncio.sleep(0.02)


class Lookups:
    """Concurrent readers looking documents up in a loop, recording each answer's time."""

    def __init__(self, model: ReadThroughModel, documents: list[VersionedDocument]) -> None:
        self._model = model
        self._documents = documents
        self._stop = asyncio.Event()
        self.durations: list[float] = []
        self.wrong: list[str] = []
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, readers: int = 20) -> None:
        self._tasks = [asyncio.create_task(self._read(i)) for i in range(readers)]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.wait_for(asyncio.gather(*self._tasks), 5)

    async def _read(self, reader: int) -> None:
        n = reader
        while not self._stop.is_set():
            expected = self._documents[n % len(self._documents)]
            started = time.monotonic()
            found = await self._model.document(expected.tracking_number)
            self.durations.append(time.monotonic() - started)
            if found != expected.document:
                self.wrong.append(expected.tracking_number)
            n += 7
            await asyncio.sleep(0.002)


def records(caplog: pytest.LogCaptureFixture, words: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == _LOGGER and words in r.getMessage()]


async def test_lookup_is_served_from_redis(sink: RedisDocuments) -> None:
    [document] = make_documents(1)
    await sink.put_documents([document])
    fallback = MemoryDocuments()
    model = ReadThroughModel(sink, fallback)
    assert await model.document(document.tracking_number) == document.document
    assert fallback.reads == 0


async def test_miss_is_answered_from_fallback_then_copied_into_redis(
    sink: RedisDocuments,
) -> None:
    [document] = make_documents(1)
    fallback = MemoryDocuments([document])
    model = ReadThroughModel(sink, fallback)
    assert await model.document(document.tracking_number) == document.document
    await wait_until_stored(sink, [document])
    assert await model.document(document.tracking_number) == document.document
    assert fallback.reads == 1
    assert model.stats.write_backs == 1
    await model.close()


async def test_unknown_number_is_none_and_writes_nothing(sink: RedisDocuments) -> None:
    model = ReadThroughModel(sink, MemoryDocuments())
    assert await model.document("1ZUNKNOWN0000000") is None
    await model.close()
    assert model.stats.write_backs == 0


async def test_write_back_never_replaces_a_newer_document(sink: RedisDocuments) -> None:
    [old] = make_documents(1, version=1)
    [new] = make_documents(1, version=2)
    model = ReadThroughModel(sink, MemoryDocuments([old]))
    # The processor's newer write lands between the lookup's miss and its write-back.
    assert await model.document(old.tracking_number) == old.document
    await sink.put_documents([new])
    await model.close()
    assert await sink.document(new.tracking_number) == new.document


async def test_killed_redis_lookups_answer_from_fallback_promptly(
    server: RedisServer, sink: RedisDocuments, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=_LOGGER)
    documents = make_documents(50)
    await sink.put_documents(documents)
    fallback = MemoryDocuments(documents)
    model = ReadThroughModel(sink, fallback, retry_after=RETRY_AFTER)
    lookups = Lookups(model, documents)
    lookups.start()
    await asyncio.sleep(0.2)
    served_before = len(lookups.durations)
    await server.kill()
    await asyncio.sleep(1.0)
    await lookups.stop()

    assert lookups.wrong == []
    assert served_before > 0
    assert len(lookups.durations) > served_before + 100
    assert max(lookups.durations) < 0.3
    assert fallback.reads > 0
    # In-flight lookups fail once each; after that only one probe per interval touches Redis.
    assert model.stats.sink_failures <= 20 + 1.0 / RETRY_AFTER + 2
    assert len(records(caplog, "is unavailable")) == 1
    await model.close()


async def test_frozen_redis_costs_one_timeout_then_fallback(
    server: RedisServer, sink: RedisDocuments
) -> None:
    documents = make_documents(20)
    await sink.put_documents(documents)
    model = ReadThroughModel(sink, MemoryDocuments(documents), retry_after=RETRY_AFTER)
    lookups = Lookups(model, documents)
    lookups.start(readers=5)
    await asyncio.sleep(0.1)
    server.freeze()
    await asyncio.sleep(1.0)
    await lookups.stop()
    server.thaw()

    assert lookups.wrong == []
    # No lookup waits longer than one socket timeout (0.25 s) plus a margin.
    assert max(lookups.durations) < 0.5
    slow = [d for d in lookups.durations if d > 0.1]
    # The readers caught mid-request at the freeze, then one probe per interval.
    assert len(slow) <= 5 + 1.0 / RETRY_AFTER + 2
    await model.close()


async def test_redis_restarted_empty_refills_from_lookups(
    server: RedisServer, sink: RedisDocuments, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=_LOGGER)
    documents = make_documents(40)
    await sink.put_documents(documents)
    model = ReadThroughModel(sink, MemoryDocuments(documents), retry_after=RETRY_AFTER)
    lookups = Lookups(model, documents)
    lookups.start(readers=10)
    await asyncio.sleep(0.1)
    await server.kill()
    await asyncio.sleep(0.3)
    await server.start()  # empty: no data, no scripts
    await wait_until_stored(sink, documents)
    await lookups.stop()
    await model.close()

    assert lookups.wrong == []
    assert max(lookups.durations) < 0.3
    assert len(records(caplog, "is unavailable")) == 1
    assert len(records(caplog, "is back")) == 1


async def test_put_documents_raises_while_redis_is_down(
    server: RedisServer, sink: RedisDocuments
) -> None:
    await server.kill()
    started = time.monotonic()
    with pytest.raises(SINK_ERRORS):
        await sink.put_documents(make_documents(3))
    assert time.monotonic() - started < 0.5


async def test_rebuild_restores_every_document_into_an_empty_redis(
    sink: RedisDocuments,
) -> None:
    documents = make_documents(2500)
    newer = make_documents(1, version=9)
    await sink.put_documents(newer)  # a processor got there first; rebuild must not undo it
    copied = await rebuild(MemoryDocuments(documents), sink, batch=1000)
    assert copied == 2500
    await wait_until_stored(sink, newer + documents[1:], seconds=1.0)
