"""The embedded event log: an append-only SQLite table (`<data>/log.db`).

URL form: none (the default when PARCELSTREAM_LOG_URL is unset). Guarantees: `append` returns only
after the records are committed with synchronous=FULL, so an ack survives kill -9 and power loss.
Concurrent appends share one transaction and one fsync (group commit). Records whose dedup id is
already in the log are dropped and reported as resends; the window is the log's retention.
Consumers keep their acknowledged position in the same file and receive everything after it again
after a crash (at-least-once).
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from parcelstream.storage.ports import Delivery, LogConsumer, LogRecord
from parcelstream.storage.sqlite.connection import connect

_SCHEMA = """
CREATE TABLE IF NOT EXISTS log (
    seq INTEGER PRIMARY KEY,
    dedup_id BLOB UNIQUE,
    appended_at INTEGER NOT NULL,
    payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS consumers (name TEXT PRIMARY KEY, acked INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS dead_letters (
    consumer TEXT NOT NULL,
    seq INTEGER NOT NULL,
    reason TEXT NOT NULL,
    payload BLOB NOT NULL,
    parked_at INTEGER NOT NULL,
    PRIMARY KEY (consumer, seq)
);
"""

_MAX_GROUP = 50_000
_TRIM_ROWS = 5_000
_TRIM_CHUNK = f"""
DELETE FROM log WHERE seq IN (
    SELECT seq FROM log WHERE seq <= ? AND appended_at < ? ORDER BY seq LIMIT {_TRIM_ROWS}
)"""
_QUERY_CHUNK = 900


@dataclass
class _Append:
    records: Sequence[LogRecord]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[list[bool]]


@dataclass
class _Waiters:
    """Wakes consumers in any event loop when records arrive."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    events: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = field(default_factory=list)

    def register(self) -> asyncio.Event:
        event = asyncio.Event()
        with self.lock:
            self.events.append((asyncio.get_running_loop(), event))
        return event

    def notify(self) -> None:
        with self.lock:
            events = list(self.events)
        for loop, event in events:
            if not loop.is_closed():
                loop.call_soon_threadsafe(event.set)


class SqliteEventLog:
    def __init__(self, path: Path, *, retention_seconds: float = 7 * 86400) -> None:
        self._path = path
        self._retention_us = int(retention_seconds * 1_000_000)
        self._queue: queue.Queue[_Append | None] = queue.Queue()
        self._waiters = _Waiters()
        setup = connect(path)
        try:
            setup.executescript(_SCHEMA)
        finally:
            setup.close()
        self._writer = threading.Thread(target=self._write_loop, name="log-writer", daemon=True)
        self._writer.start()
        self._closed = False

    async def append(self, records: Sequence[LogRecord]) -> list[bool]:
        if not records:
            return []
        if self._closed:
            raise RuntimeError("event log is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[bool]] = loop.create_future()
        self._queue.put(_Append(records, loop, future))
        return await future

    def consumer(self, name: str) -> LogConsumer:
        return SqliteLogConsumer(self._path, name, self._waiters)

    async def ping(self) -> None:
        await asyncio.to_thread(_ping, self._path)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        await asyncio.to_thread(self._writer.join)

    def trim(self) -> int:
        """Drop records that every consumer has acknowledged and that left the dedup window."""
        conn = connect(self._path)
        try:
            horizon = _now_us() - self._retention_us
            row = conn.execute("SELECT MIN(acked) FROM consumers").fetchone()
            acked = row[0] if row and row[0] is not None else 0
            removed = 0
            # Small transactions: the appender waits on this write lock while each one runs.
            while True:
                with conn:
                    cur = conn.execute(_TRIM_CHUNK, (acked, horizon))
                removed += cur.rowcount
                if cur.rowcount < _TRIM_ROWS:
                    return removed
        finally:
            conn.close()

    def _write_loop(self) -> None:
        conn = connect(self._path)
        try:
            while True:
                first = self._queue.get()
                if first is None:
                    return
                group = [first]
                size = len(first.records)
                stop = False
                while size < _MAX_GROUP:
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        stop = True
                        break
                    group.append(more)
                    size += len(more.records)
                self._commit_group(conn, group)
                if stop:
                    return
        finally:
            conn.close()

    def _commit_group(self, conn: sqlite3.Connection, group: list[_Append]) -> None:
        try:
            results = _append_all(conn, [a.records for a in group])
        except Exception as exc:  # every waiter must hear of it; none may hang
            for item in group:
                item.loop.call_soon_threadsafe(_fail, item.future, exc)
            return
        for item, result in zip(group, results, strict=True):
            item.loop.call_soon_threadsafe(_resolve, item.future, result)
        self._waiters.notify()


def _append_all(conn: sqlite3.Connection, batches: list[Sequence[LogRecord]]) -> list[list[bool]]:
    ids = [r.dedup_id for batch in batches for r in batch if r.dedup_id is not None]
    seen: set[bytes] = set()
    for start in range(0, len(ids), _QUERY_CHUNK):
        chunk = ids[start : start + _QUERY_CHUNK]
        marks = ",".join("?" * len(chunk))
        seen.update(
            row[0]
            for row in conn.execute(f"SELECT dedup_id FROM log WHERE dedup_id IN ({marks})", chunk)
        )
    now = _now_us()
    rows: list[tuple[bytes | None, int, bytes]] = []
    results: list[list[bool]] = []
    for batch in batches:
        flags = []
        for record in batch:
            resend = record.dedup_id is not None and record.dedup_id in seen
            if not resend:
                rows.append((record.dedup_id, now, record.payload))
                if record.dedup_id is not None:
                    seen.add(record.dedup_id)
            flags.append(resend)
        results.append(flags)
    with conn:
        conn.executemany("INSERT INTO log (dedup_id, appended_at, payload) VALUES (?, ?, ?)", rows)
    return results


class SqliteLogConsumer:
    def __init__(self, path: Path, name: str, waiters: _Waiters) -> None:
        self._path = path
        self._name = name
        self._waiters = waiters
        self._conn: sqlite3.Connection | None = None
        self._event: asyncio.Event | None = None
        self._fetched = 0

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = connect(self._path, check_same_thread=False, fsync_each_commit=False)
            with self._conn:
                self._conn.execute(
                    "INSERT OR IGNORE INTO consumers (name, acked) VALUES (?, 0)", (self._name,)
                )
            row = self._conn.execute(
                "SELECT acked FROM consumers WHERE name = ?", (self._name,)
            ).fetchone()
            self._fetched = row[0]
        return self._conn

    async def fetch(self, max_records: int, max_wait: float) -> list[Delivery]:
        if self._event is None:
            self._event = self._waiters.register()
        deadline = time.monotonic() + max_wait
        while True:
            self._event.clear()
            rows = await asyncio.to_thread(self._read, max_records)
            if rows:
                self._fetched = rows[-1].position
                return rows
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            # Appends from other processes do not wake us; the timeout bounds that delay.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), min(remaining, 0.5))

    def _read(self, max_records: int) -> list[Delivery]:
        conn = self._connection()
        return [
            Delivery(seq, payload)
            for seq, payload in conn.execute(
                "SELECT seq, payload FROM log WHERE seq > ? ORDER BY seq LIMIT ?",
                (self._fetched, max_records),
            )
        ]

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        if deliveries:
            position = max(d.position for d in deliveries)
            await asyncio.to_thread(self._store_ack, position)

    def _store_ack(self, position: int) -> None:
        conn = self._connection()
        with conn:
            conn.execute(
                "UPDATE consumers SET acked = MAX(acked, ?) WHERE name = ?", (position, self._name)
            )

    async def dead_letter(self, delivery: Delivery, reason: str) -> None:
        await asyncio.to_thread(self._park, delivery, reason)

    def _park(self, delivery: Delivery, reason: str) -> None:
        conn = self._connection()
        with conn:
            conn.execute(
                "INSERT OR REPLACE INTO dead_letters VALUES (?, ?, ?, ?, ?)",
                (self._name, delivery.position, reason, delivery.payload, _now_us()),
            )

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _ping(path: Path) -> None:
    conn = connect(path)
    try:
        conn.execute("SELECT 1 FROM log LIMIT 1").fetchall()
    finally:
        conn.close()


def _resolve(future: asyncio.Future[list[bool]], result: list[bool]) -> None:
    if not future.done():
        future.set_result(result)


def _fail(future: asyncio.Future[list[bool]], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


def _now_us() -> int:
    return time.time_ns() // 1000
