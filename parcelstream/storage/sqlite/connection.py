"""One way to open the embedded databases, so every connection has the same durability."""

from __future__ import annotations

import sqlite3
from pathlib import Path


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
