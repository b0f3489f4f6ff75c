"""One way to open the embedded databases, so every connection has the same durability."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def connect(
    path: Path, *, check_same_thread: bool = True, fsync_each_commit: bool = True
) -> sqlite3.Connection:
    """WAL for readers beside one writer; synchronous=FULL because an ack promises durability.

    `fsync_each_commit=False` is for writes that may be lost on power failure without harm (a
    consumer's position: losing it only replays idempotent work); the next full commit on the
    same file makes them durable anyway."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30.0, check_same_thread=check_same_thread)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={'FULL' if fsync_each_commit else 'NORMAL'}")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA cache_size=-65536")
    return conn


class WriterThread:
    """The one thread that writes a store's tables, with the one connection it owns: SQLite takes
    one writer at a time, and a connection belongs to the thread that opened it. The schema is
    applied once, when the store is opened."""

    def __init__(self, path: Path, schema: str, name: str, *, autocommit: bool = False) -> None:
        self._path = path
        self._autocommit = autocommit
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._conn: sqlite3.Connection | None = None
        setup = connect(path)
        try:
            setup.executescript(schema)
        finally:
            setup.close()

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, work, *args)

    def connection(self) -> sqlite3.Connection:
        """The writer's connection: only for work given to `run`."""
        if self._conn is None:
            self._conn = connect(self._path)
            if self._autocommit:  # the caller says BEGIN itself (e.g. BEGIN IMMEDIATE)
                self._conn.isolation_level = None
        return self._conn

    async def close(self) -> None:
        def close_connection() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await self.run(close_connection)
        self._executor.shutdown(wait=True)
