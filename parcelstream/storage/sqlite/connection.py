"""One way to open the embedded databases, so every connection has the same durability."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def connect(path: Path, *, check_same_thread: bool = True) -> sqlite3.Connection:
    """WAL for readers beside one writer; synchronous=FULL because an ack promises durability."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30.0, check_same_thread=check_same_thread)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA cache_size=-65536")
    return conn
