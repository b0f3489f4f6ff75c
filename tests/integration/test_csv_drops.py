"""Facility CSV drops: the watcher over a real folder (and a real S3 server), the SQLite event log
and the drop ledger: each file once, results and rejects beside it, resumed after a crash."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from parcelstream.events import ScanRecorded, decode_event
from parcelstream.ingest.drop_watcher import DropWatcher
from parcelstream.storage.blobs.local import LocalBlobStore
from parcelstream.storage.blobs.s3 import S3BlobStore
from parcelstream.storage.ports import BlobStore, DropFile
from parcelstream.storage.sqlite.drops import SqliteDropLedger
from parcelstream.storage.sqlite.log import SqliteEventLog
from tests.backends.s3 import SeaweedFS, s3_blobs
from tests.e2e.workload import ups_number

HEADER = "tracking_number,facility_id,timestamp,status_code,employee_id,city,region,postal_code,country\n"
BAD_ROWS = {
    "1Z999,ATL-HUB-01,{t},ARRIVED_AT_FACILITY,E1,,,,\n": (
        "tracking_number",
        "invalid_tracking_number",
    ),
    "{tn},ATL-HUB-01,{t},LOST,E1,,,,\n": ("status_code", "invalid"),
    "{tn},ATL-HUB-01,not-a-time,PICKED_UP,E1,,,,\n": ("timestamp", "invalid"),
}


def wall_us() -> int:
    return time.time_ns() // 1000


def scan_rows(
    rng: random.Random, count: int, bad_every: int = 0
) -> tuple[str, dict[int, tuple[str, str]]]:
    """CSV text of `count` data rows, and the expected rejections by row number."""
    now = datetime.now(UTC).replace(microsecond=0)
    lines = [HEADER]
    bad: dict[int, tuple[str, str]] = {}
    templates = list(BAD_ROWS.items())
    for n in range(count):
        moment = (now - timedelta(seconds=n)).isoformat()
        if bad_every and n % bad_every == bad_every - 1:
            template, expected = templates[n % len(templates)]
            lines.append(template.format(tn=ups_number(rng), t=moment))
            bad[n + 2] = expected
        else:
            lines.append(
                f"{ups_number(rng)},ATL-HUB-01,{moment},ARRIVED_AT_FACILITY,E{n},Atlanta,GA,30336,US\n"
            )
    return "".join(lines), bad


@dataclass
class Drops:
    folder: Path
    store: BlobStore
    ledger: SqliteDropLedger
    log: SqliteEventLog

    def watcher(self, **options: float | str) -> DropWatcher:
        options.setdefault("settle_seconds", 0.0)
        return DropWatcher(self.store, self.ledger, self.log, wall_us, **options)  # type: ignore[arg-type]

    async def logged_scans(self) -> list[tuple[str, str, int, str]]:
        consumer = self.log.consumer(f"check-{time.monotonic_ns()}")
        keys = []
        while batch := await consumer.fetch(100_000, 0):
            for delivery in batch:
                event = decode_event(delivery.payload)
                assert isinstance(event, ScanRecorded)
                keys.append(event.scan.dedup_key)
        await consumer.close()
        return keys


async def open_drops(tmp_path: Path, store: BlobStore | None = None) -> Drops:
    folder = tmp_path / "drops"
    return Drops(
        folder,
        store or LocalBlobStore(folder),
        SqliteDropLedger(tmp_path / "state.db"),
        SqliteEventLog(tmp_path / "log.db"),
    )


async def close_drops(drops: Drops) -> None:
    await drops.ledger.close()
    await drops.log.close()
    await drops.store.close()


@pytest.fixture
async def drops(tmp_path: Path) -> AsyncIterator[Drops]:
    opened = await open_drops(tmp_path)
    yield opened
    await close_drops(opened)


def drop(folder: Path, name: str, text: str) -> Path:
    """As the convention asks: written under a .part name, then renamed."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    part.write_text(text)
    part.rename(path)
    return path


async def result_of(store: BlobStore, key: str) -> dict[str, object]:
    data: dict[str, object] = json.loads(await store.get(f"_results/{key}.result.json"))
    return data


async def test_a_dropped_file_is_ingested_and_its_result_recorded(drops: Drops) -> None:
    text, _ = scan_rows(random.Random(1), 120)
    drop(drops.folder, "atl/2026-11-25.csv", text)
    [result] = await drops.watcher().poll()
    assert (result.state, result.report.rows, result.report.accepted) == ("done", 120, 120)
    recorded = await result_of(drops.store, "atl/2026-11-25.csv")
    assert recorded["accepted"] == 120
    assert recorded["rejected"] == 0
    assert recorded["rejects_file"] is None
    assert recorded["sha256"] == result.report.sha256
    assert len(set(await drops.logged_scans())) == 120


async def test_rejected_rows_are_listed_with_row_field_and_reason(drops: Drops) -> None:
    text, bad = scan_rows(random.Random(2), 40, bad_every=7)
    drop(drops.folder, "bad.csv", text)
    [result] = await drops.watcher().poll()
    assert (result.report.accepted, result.report.rejected) == (40 - len(bad), len(bad))
    rejects = list(
        csv.DictReader(
            io.StringIO((await drops.store.get("_results/bad.csv.rejects.csv")).decode())
        )
    )
    assert {int(r["row"]): (r["field"], r["code"]) for r in rejects} == bad
    assert all(r["reason"] for r in rejects)
    assert (await result_of(drops.store, "bad.csv"))[
        "rejects_file"
    ] == "_results/bad.csv.rejects.csv"


async def test_a_file_is_never_ingested_twice_across_a_restart(
    drops: Drops, tmp_path: Path
) -> None:
    text, _ = scan_rows(random.Random(3), 50)
    drop(drops.folder, "once.csv", text)
    assert len(await drops.watcher().poll()) == 1
    await close_drops(drops)

    restarted = await open_drops(tmp_path)
    try:
        assert await restarted.watcher().poll() == []
        assert len(await restarted.logged_scans()) == 50
        [record] = await restarted.ledger.records("once.csv")
        assert (record.state, record.claims) == ("done", 1)
    finally:
        await close_drops(restarted)
    drops.ledger, drops.log = (
        SqliteDropLedger(tmp_path / "state.db"),
        SqliteEventLog(tmp_path / "log.db"),
    )


async def test_a_half_written_part_file_is_ignored_until_renamed(drops: Drops) -> None:
    text, _ = scan_rows(random.Random(4), 30)
    drops.folder.mkdir(parents=True)
    part = drops.folder / "late.csv.part"
    part.write_text(text[: len(text) // 2])
    assert await drops.watcher().poll() == []
    with part.open("a") as file:
        file.write(text[len(text) // 2 :])
    part.rename(drops.folder / "late.csv")
    [result] = await drops.watcher().poll()
    assert result.report.accepted == 30


async def test_a_csv_written_in_place_waits_until_it_has_settled(drops: Drops) -> None:
    text, _ = scan_rows(random.Random(5), 10)
    drops.folder.mkdir(parents=True)
    (drops.folder / "slow.csv").write_text(text)
    watcher = drops.watcher(settle_seconds=30.0)
    assert await watcher.poll() == []
    later = DropWatcher(
        drops.store, drops.ledger, drops.log, lambda: wall_us() + 31_000_000, settle_seconds=30.0
    )
    assert len(await later.poll()) == 1


async def test_an_unreadable_file_fails_once_with_its_reason(drops: Drops) -> None:
    drop(drops.folder, "nohead.csv", "1Z5R89390357567127,ATL-HUB-01\n")
    [result] = await drops.watcher().poll()
    assert result.state == "failed"
    recorded = await result_of(drops.store, "nohead.csv")
    assert "header lacks" in str(recorded["error"])
    assert await drops.watcher().poll() == []


async def test_two_watchers_at_once_ingest_each_file_once(drops: Drops, tmp_path: Path) -> None:
    rng = random.Random(6)
    for n in range(6):
        drop(drops.folder, f"site-{n}.csv", scan_rows(rng, 200)[0])
    other_ledger = SqliteDropLedger(tmp_path / "state.db")
    other = DropWatcher(drops.store, other_ledger, drops.log, wall_us, settle_seconds=0.0)
    try:
        mine, theirs = await asyncio.gather(drops.watcher().poll(), other.poll())
    finally:
        await other_ledger.close()
    keys = [r.file.key for r in mine + theirs]
    assert sorted(keys) == [f"site-{n}.csv" for n in range(6)]
    assert len(await drops.logged_scans()) == 6 * 200


async def test_a_watcher_killed_mid_file_is_resumed_with_exact_counts(drops: Drops) -> None:
    rng = random.Random(7)
    text, bad = scan_rows(rng, 25_000, bad_every=97)
    lines = text.splitlines(keepends=True)
    text += "".join(lines[1:400])  # rows the file itself repeats: true duplicates
    drop(drops.folder, "big.csv", text)
    rows = 25_000 + 399
    rejected = len(bad) + sum(1 for row in bad if row <= 400)
    crashed = drops.watcher(lease_seconds=0.3, owner="crashed")
    task = asyncio.create_task(crashed.poll())
    file = DropFile("big.csv", "", 0)
    deadline = time.monotonic() + 30
    while True:
        records = await drops.ledger.records("big.csv")
        # Catch it, if we can, with a batch on its way into the log (appending_through ahead).
        if records and records[0].progress.appending_through > 0:
            file = records[0].file
            break
        assert time.monotonic() < deadline, "the first watcher never saved progress"
        await asyncio.sleep(0.002)
    task.cancel()  # as a kill would: no finish, the claim left to run out
    with pytest.raises(asyncio.CancelledError):
        await task
    [record] = await drops.ledger.records("big.csv")
    assert record.state == "ingesting"
    crashed_at = record.progress
    assert crashed_at.rows_done < rows + 1

    await asyncio.sleep(0.35)
    [result] = await drops.watcher(owner="successor").poll()
    report = result.report
    assert result.claims >= 2
    assert (report.rows, report.rejected) == (rows, rejected)
    assert report.accepted + report.duplicates + report.replayed == rows - rejected
    # The rows the file repeats are duplicates, unless they fell in the window the crash left
    # uncertain (counted as replayed); nothing else is.
    assert report.duplicates <= 399 - (rejected - len(bad))
    assert report.accepted + report.replayed >= 25_000 - len(bad)
    logged = await drops.logged_scans()
    assert len(logged) == len(set(logged)) == 25_000 - len(bad)
    rejects = (await drops.store.get("_results/big.csv.rejects.csv")).decode().splitlines()
    assert len(rejects) == 1 + rejected
    assert file.key == "big.csv"
    assert report.replayed <= crashed_at.appending_through - crashed_at.rows_done


async def test_drops_on_s3_are_ingested_once_with_results_beside_them(
    seaweedfs: SeaweedFS, tmp_path: Path
) -> None:
    async with s3_blobs(seaweedfs) as store:
        text, bad = scan_rows(random.Random(8), 300, bad_every=50)
        await store.put("incoming/dfw.csv", text.encode(), "text/csv")
        await store.put("incoming/dfw2.csv.part", text.encode(), "text/csv")
        opened = await open_drops(tmp_path, store)
        try:
            [result] = await opened.watcher().poll()
            assert (result.report.accepted, result.report.rejected) == (300 - len(bad), len(bad))
            recorded = await result_of(store, "incoming/dfw.csv")
            assert recorded["rejects_file"] == "_results/incoming/dfw.csv.rejects.csv"
            rejects = (await store.get("_results/incoming/dfw.csv.rejects.csv")).decode()
            assert rejects.count("\n") == 1 + len(bad)
            assert await opened.watcher().poll() == []
        finally:
            await opened.ledger.close()
            await opened.log.close()
    assert isinstance(store, S3BlobStore)
