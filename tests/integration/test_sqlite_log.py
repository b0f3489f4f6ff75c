"""What only the embedded log does: trimming what every consumer has passed."""

from __future__ import annotations

from pathlib import Path

from parcelstream.storage.ports import LogRecord
from parcelstream.storage.sqlite.log import SqliteEventLog


def record(n: int) -> LogRecord:
    return LogRecord(payload=f"payload-{n}".encode(), dedup_id=f"id-{n}".encode())


async def test_trim_drops_only_what_every_consumer_passed(tmp_path: Path) -> None:
    log = SqliteEventLog(tmp_path / "log.db", retention_seconds=0)
    try:
        await log.append([record(n) for n in range(12_000)])
        fast, slow = log.consumer("fast"), log.consumer("slow")
        await fast.ack(await fast.fetch(12_000, 1.0))
        await slow.ack(await slow.fetch(10_500, 1.0))
        assert log.trim() == 10_500
        assert len(await fast.fetch(100, 0.05)) == 0
        assert len(await slow.fetch(12_000, 1.0)) == 1_500
    finally:
        await log.close()
