"""The DocumentSink contract: documents round-trip as stored, and a store only moves forward in
version, whatever order the writes arrive in. Runs against every sink in `_sink_backends`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

from parcelstream.storage.ports import DocumentSink, StoredDocument, VersionedDocument
from tests.backends.redis import redis_documents

TN = "1Z5R89390357567127"
OTHER = "1Z879E930346834440"


def _sink_backends() -> dict[str, Callable[[Path], AbstractAsyncContextManager[DocumentSink]]]:
    # Another sink joins the suite by adding its context manager here.
    return {"redis": redis_documents}


@pytest.fixture(params=sorted(_sink_backends()))
async def sink(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DocumentSink]:
    async with _sink_backends()[request.param](tmp_path) as opened:
        yield opened


def versioned(version: int, tn: str = TN, body: bytes | None = None) -> VersionedDocument:
    body = body if body is not None else f"{tn}@{version}".encode()
    return VersionedDocument(tn, version, StoredDocument(body, f'"{version}"', "IN_TRANSIT"))


async def body_of(sink: DocumentSink, tn: str = TN) -> bytes | None:
    found = await sink.document(tn)
    return None if found is None else found.body


async def test_stored_document_comes_back_byte_for_byte(sink: DocumentSink) -> None:
    document = StoredDocument(b'{"status":"DELIVERED"}\x00\xff\xfe', 'W/"ab-12"', "DELIVERED")
    await sink.put_documents([VersionedDocument(TN, 1, document)])
    assert await sink.document(TN) == document


async def test_unknown_tracking_number_is_none(sink: DocumentSink) -> None:
    await sink.put_documents([versioned(1)])
    assert await sink.document(OTHER) is None


async def test_empty_call_changes_nothing(sink: DocumentSink) -> None:
    await sink.put_documents([])
    assert await sink.document(TN) is None


async def test_newer_version_replaces_older(sink: DocumentSink) -> None:
    await sink.put_documents([versioned(1)])
    await sink.put_documents([versioned(2)])
    assert await sink.document(TN) == versioned(2).document


async def test_older_version_arriving_later_never_replaces_newer(sink: DocumentSink) -> None:
    await sink.put_documents([versioned(5)])
    await sink.put_documents([versioned(4)])
    await sink.put_documents([versioned(1)])
    assert await sink.document(TN) == versioned(5).document


async def test_equal_version_keeps_the_document_already_stored(sink: DocumentSink) -> None:
    await sink.put_documents([versioned(3, body=b"first")])
    await sink.put_documents([versioned(3, body=b"second")])
    assert await body_of(sink) == b"first"


@pytest.mark.parametrize("order", [[1, 2], [2, 1], [2, 3, 1], [3, 1, 2]])
async def test_within_one_call_the_highest_version_wins(
    sink: DocumentSink, order: list[int]
) -> None:
    await sink.put_documents([versioned(v) for v in order])
    assert await sink.document(TN) == versioned(max(order)).document


async def test_versions_compare_exactly_beyond_float_precision(sink: DocumentSink) -> None:
    big = 2**62
    await sink.put_documents([versioned(big + 1)])
    await sink.put_documents([versioned(big)])
    assert await body_of(sink) == versioned(big + 1).document.body
    await sink.put_documents([versioned(big + 2)])
    assert await body_of(sink) == versioned(big + 2).document.body


async def test_shorter_higher_version_is_not_beaten_by_longer_lower_one(sink: DocumentSink) -> None:
    # 10 > 9 although "10" < "9" as text: the comparison must be numeric.
    await sink.put_documents([versioned(9)])
    await sink.put_documents([versioned(10)])
    await sink.put_documents([versioned(9)])
    assert await body_of(sink) == versioned(10).document.body


async def test_many_documents_in_one_call_are_all_stored(sink: DocumentSink) -> None:
    documents = [versioned(1, tn=f"TN{i:08d}") for i in range(3000)]
    await sink.put_documents(documents)
    for document in documents[::97] + documents[-1:]:
        assert await sink.document(document.tracking_number) == document.document


async def test_documents_of_different_packages_are_independent(sink: DocumentSink) -> None:
    await sink.put_documents([versioned(7, tn=TN), versioned(1, tn=OTHER)])
    await sink.put_documents([versioned(2, tn=OTHER), versioned(6, tn=TN)])
    assert await body_of(sink, TN) == versioned(7, tn=TN).document.body
    assert await body_of(sink, OTHER) == versioned(2, tn=OTHER).document.body
