"""Scaled out: two `parcelstream drops` processes watch one S3 prefix (SeaweedFS), share the
drop ledger in PostgreSQL and append to NATS JetStream; every file is ingested by exactly one of
them, once, and both stop cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest

from parcelstream.events import ScanRecorded, decode_event
from parcelstream.storage.blobs.s3 import S3BlobStore
from parcelstream.storage.nats import NatsEventLog
from parcelstream.storage.ports import BlobNotFound
from parcelstream.storage.postgres.drops import PostgresDropLedger
from tests.backends.postgres import fresh_database
from tests.backends.s3 import SeaweedFS

from .harness import child_env
from .test_csv_drops import facility_file
from .workload import ups_numbers

pytestmark = pytest.mark.slow

NATS_URL = "nats://127.0.0.1:4222"
FILES = 6
ROWS = 150


@pytest.fixture
async def drops_env(seaweedfs: SeaweedFS) -> AsyncIterator[dict[str, str]]:
    stream = f"PSDROPS_{uuid.uuid4().hex[:12].upper()}"
    async with fresh_database() as database_url:
        yield {
            "PARCELSTREAM_DATABASE_URL": database_url,
            "PARCELSTREAM_LOG_URL": f"{NATS_URL}?stream={stream}",
            "PARCELSTREAM_DROPS_URL": seaweedfs.url(f"drops-{uuid.uuid4().hex[:8]}"),
            "PARCELSTREAM_DROPS_POLL_SECONDS": "0.2",
            "PARCELSTREAM_DROPS_SETTLE_SECONDS": "0",
            "PARCELSTREAM_SIGNING_SECRET": "e2e-" + uuid.uuid4().hex,
        }
        connection = await nats.connect(NATS_URL)
        try:
            for name in (stream, f"{stream}_DEAD"):
                with contextlib.suppress(Exception):
                    await connection.jetstream().delete_stream(name)
        finally:
            await connection.close()


async def results(store: S3BlobStore, names: list[str]) -> dict[str, dict[str, object]]:
    found = {}
    for name in names:
        with contextlib.suppress(BlobNotFound):
            found[name] = json.loads(await store.get(f"_results/{name}.result.json"))
    return found


def start_watcher(log: Path, data: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "parcelstream.cli", "drops", "--data", str(data)],
            env={**child_env(), **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def test_two_watchers_share_the_files_and_ingest_each_once(
    drops_env: dict[str, str], rng: random.Random, tmp_path: Path
) -> None:
    watchers = [start_watcher(tmp_path / f"drops-{n}.log", tmp_path, drops_env) for n in range(2)]
    store = S3BlobStore.from_url(drops_env["PARCELSTREAM_DROPS_URL"])
    names = [f"hub-{n}/2026-11-25.csv" for n in range(FILES)]
    numbers = ups_numbers(rng, FILES * ROWS)
    try:
        for n, name in enumerate(names):
            text = facility_file(numbers[n * ROWS : (n + 1) * ROWS], bad=1)
            await store.put(name, text.encode(), "text/csv")

        async def all_done() -> bool:
            return len(await results(store, names)) == FILES

        for _ in range(300):
            if await all_done():
                break
            await asyncio.sleep(0.1)
        found = await results(store, names)
        assert len(found) == FILES, sorted(found)
        for result in found.values():
            assert (result["state"], result["accepted"], result["rejected"]) == ("done", ROWS, 1)
            assert result["attempts"] == 1
    finally:
        for watcher in watchers:
            watcher.send_signal(signal.SIGTERM)
        codes = [await asyncio.to_thread(w.wait, 30) for w in watchers]
    logs = [(tmp_path / f"drops-{n}.log").read_text() for n in range(2)]
    assert codes == [0, 0], logs
    assert all("Traceback" not in text for text in logs), logs

    ledger = await PostgresDropLedger.connect(drops_env["PARCELSTREAM_DATABASE_URL"])
    try:
        owners = set()
        for name in names:
            [record] = await ledger.records(name)
            assert (record.state, record.claims) == ("done", 1)
            owners.add(record.owner)
    finally:
        await ledger.close()
    print("files ingested by", owners)

    event_log = NatsEventLog(drops_env["PARCELSTREAM_LOG_URL"])
    consumer = event_log.consumer("check")
    keys = []
    try:
        while batch := await consumer.fetch(1000, 1.0):
            keys += [decode_event(d.payload) for d in batch]
            await consumer.ack(batch)
    finally:
        await consumer.close()
        await event_log.close()
    scans = [e.scan.tracking_number for e in keys if isinstance(e, ScanRecorded)]
    assert sorted(scans) == sorted(numbers)
