"""The BlobStore contract, over the local folder and S3 (a real SeaweedFS server)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2 as httpx
import pytest

from parcelstream.storage.blobs.local import LocalBlobStore
from parcelstream.storage.ports import BlobNotFound, BlobStore
from tests.backends.s3 import s3_blobs


@pytest.fixture(params=["local", "s3"])
async def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BlobStore]:
    if request.param == "local":
        store = LocalBlobStore(tmp_path / "blobs")
        try:
            yield store
        finally:
            await store.close()
        return
    async with s3_blobs(request.getfixturevalue("seaweedfs")) as s3:
        yield s3


async def test_put_then_get_returns_the_bytes_and_a_second_put_replaces_them(
    blobs: BlobStore,
) -> None:
    await blobs.put("proof/1Z/abc.png", b"first", "image/png")
    assert await blobs.get("proof/1Z/abc.png") == b"first"
    await blobs.put("proof/1Z/abc.png", b"second, longer", "image/png")
    assert await blobs.get("proof/1Z/abc.png") == b"second, longer"


async def test_missing_key_raises_blob_not_found_on_get_and_stream(blobs: BlobStore) -> None:
    with pytest.raises(BlobNotFound):
        await blobs.get("nothing/here")
    with pytest.raises(BlobNotFound):
        async for _ in blobs.stream("nothing/here"):
            pass


async def test_stream_gives_a_multi_megabyte_object_back_in_bounded_chunks(
    blobs: BlobStore,
) -> None:
    data = os.urandom(5 * 1024 * 1024 + 123)
    await blobs.put("drops/ATL/big.csv", data, "text/csv")
    chunks = [chunk async for chunk in blobs.stream("drops/ATL/big.csv", chunk_size=256 * 1024)]
    assert b"".join(chunks) == data
    assert len(chunks) > 4
    assert max(len(chunk) for chunk in chunks) <= 2 * 256 * 1024


async def test_list_gives_every_key_under_a_plain_prefix_sorted_with_size_and_time(
    blobs: BlobStore,
) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    for key in ("drops/B/2.csv", "drops/A/1.csv", "drops/A/10.csv", "drops-old/x.csv", "z"):
        await blobs.put(key, key.encode(), "text/csv")

    everything = await blobs.list("")
    assert [info.key for info in everything] == [
        "drops-old/x.csv",
        "drops/A/1.csv",
        "drops/A/10.csv",
        "drops/B/2.csv",
        "z",
    ]
    assert [info.key for info in await blobs.list("drops/")] == [
        "drops/A/1.csv",
        "drops/A/10.csv",
        "drops/B/2.csv",
    ]
    assert [info.key for info in await blobs.list("drops/A/1")] == [
        "drops/A/1.csv",
        "drops/A/10.csv",
    ]
    assert [info.key for info in await blobs.list("drops")] == [
        "drops-old/x.csv",
        "drops/A/1.csv",
        "drops/A/10.csv",
        "drops/B/2.csv",
    ]
    assert await blobs.list("nope/") == []
    info = everything[1]
    assert info.size == len(b"drops/A/1.csv")
    assert info.etag
    assert info.modified.tzinfo is not None
    assert info.modified.utcoffset() == timedelta(0)
    assert before <= info.modified <= datetime.now(UTC) + timedelta(seconds=5)


async def test_etag_changes_when_the_object_changes(blobs: BlobStore) -> None:
    await blobs.put("a.csv", b"one", "text/csv")
    [first] = await blobs.list("a.csv")
    await asyncio.sleep(0.01)
    await blobs.put("a.csv", b"two!", "text/csv")
    [second] = await blobs.list("a.csv")
    assert first.etag != second.etag


async def test_delete_removes_the_key_and_a_missing_key_is_no_error(blobs: BlobStore) -> None:
    await blobs.put("x/y.png", b"data", "image/png")
    await blobs.delete("x/y.png")
    with pytest.raises(BlobNotFound):
        await blobs.get("x/y.png")
    assert await blobs.list("x/") == []
    await blobs.delete("x/y.png")


@pytest.mark.parametrize(
    "key", ["../escape", "/absolute", "a//b", "a/../b", ".hidden", "a/./b", "", "a\\b", "a\x00b"]
)
async def test_keys_that_could_leave_the_store_are_refused(blobs: BlobStore, key: str) -> None:
    with pytest.raises(ValueError, match="blob key"):
        await blobs.put(key, b"x", "text/plain")
    with pytest.raises(ValueError, match="blob key"):
        await blobs.get(key)


async def test_ping_answers_when_the_store_is_reachable(blobs: BlobStore) -> None:
    await blobs.ping()


async def test_signed_url_serves_the_object_over_http_then_expires(blobs: BlobStore) -> None:
    await blobs.put("proof/sig.png", b"\x89PNG fake", "image/png")
    url = await blobs.signed_url("proof/sig.png", expires_in=1)
    if isinstance(blobs, LocalBlobStore):
        # A folder cannot sign: the API serves its own signed link (tests/integration/test_proof*).
        assert url is None
        return
    assert url is not None
    assert url.startswith("http://")
    async with httpx.AsyncClient() as client:
        fresh = await client.get(url)
        assert fresh.status_code == 200
        assert fresh.content == b"\x89PNG fake"
        assert fresh.headers["content-type"] == "image/png"
        assert fresh.headers["cache-control"] == "private"
        forged = await client.get(url.replace("sig.png", "sig.pnh"))
        assert forged.status_code == 403
        await asyncio.sleep(2.2)
        expired = await client.get(url)
        assert expired.status_code == 403


async def test_local_put_is_atomic_and_leaves_no_partial_files(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    await asyncio.gather(*(store.put("same", bytes([n]) * 100_000, "x/y") for n in range(8)))
    data = await store.get("same")
    assert len(set(data)) == 1
    assert [info.key for info in await store.list("")] == ["same"]
    assert list((tmp_path / "blobs" / ".partial").iterdir()) == []
