"""The embedded state: history, master data, read-model documents and API keys (`<data>/state.db`).

URL form: none (the default when PARCELSTREAM_DATABASE_URL is unset). Guarantees: `apply` stores
new scans, master data and the re-projected documents in one transaction (synchronous=FULL); a
scan already stored under its dedup key is ignored, so replaying the log changes nothing. Writes run
on one writer thread; lookups read through a bounded in-process cache.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from parcelstream.domain.packages import Package
from parcelstream.domain.scans import Scan
from parcelstream.storage.ports import (
    ApiKey,
    Applied,
    Projector,
    StoredDocument,
)
from parcelstream.storage.rows import (
    MILESTONE_COLUMNS,
    SCAN_COLUMNS,
    decode_package,
    encode_package,
    milestone_row,
    scan_from_row,
    scan_row,
)
from parcelstream.storage.sqlite.cache import DocumentCache
from parcelstream.storage.sqlite.connection import connect

_T = TypeVar("_T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS scans (
    tracking_number TEXT NOT NULL,
    occurred_at INTEGER NOT NULL,
    facility_id TEXT NOT NULL,
    status_code TEXT NOT NULL,
    utc_offset INTEGER NOT NULL,
    exception_code TEXT,
    employee_id TEXT,
    city TEXT,
    region TEXT,
    postal_code TEXT,
    country TEXT,
    extras BLOB,
    detail TEXT,
    PRIMARY KEY (tracking_number, occurred_at, facility_id, status_code)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS packages (
    tracking_number TEXT PRIMARY KEY,
    registered_at INTEGER NOT NULL,
    master BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS documents (
    tracking_number TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    status TEXT NOT NULL,
    etag TEXT NOT NULL,
    body BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS milestones (
    tracking_number TEXT NOT NULL,
    milestone TEXT NOT NULL,
    number INTEGER NOT NULL,
    detail TEXT,
    occurred_at INTEGER NOT NULL,
    utc_offset INTEGER NOT NULL,
    city TEXT,
    region TEXT,
    country TEXT,
    recorded_at INTEGER NOT NULL,
    dispatched INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tracking_number, milestone, number)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS milestones_pending ON milestones (recorded_at) WHERE dispatched = 0;
CREATE TABLE IF NOT EXISTS estimates (
    tracking_number TEXT PRIMARY KEY,
    record BLOB NOT NULL,
    document BLOB,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS eta_requests (
    tracking_number TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    lease_until INTEGER NOT NULL DEFAULT 0,
    dead TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS eta_requests_due ON eta_requests (seq) WHERE dead IS NULL;
CREATE TABLE IF NOT EXISTS eta_deliveries (
    delivered_at INTEGER NOT NULL,
    tracking_number TEXT NOT NULL,
    PRIMARY KEY (delivered_at, tracking_number)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);
"""

_INSERT_MILESTONE = (
    f"INSERT OR IGNORE INTO milestones ({MILESTONE_COLUMNS}, recorded_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_SCAN = f"INSERT OR IGNORE INTO scans ({SCAN_COLUMNS}) VALUES ({', '.join('?' * 13)})"
_SELECT_HISTORY = f"SELECT {SCAN_COLUMNS} FROM scans WHERE tracking_number = ?"
_UPSERT_PACKAGE = """
INSERT INTO packages (tracking_number, registered_at, master) VALUES (?, ?, ?)
ON CONFLICT (tracking_number) DO UPDATE SET registered_at = excluded.registered_at,
    master = excluded.master
WHERE excluded.registered_at >= packages.registered_at
"""
# The package's current document version, master data and estimate (any may be missing).
_SELECT_CURRENT = """
SELECT (SELECT version FROM documents WHERE tracking_number = ?1),
       (SELECT master FROM packages WHERE tracking_number = ?1),
       (SELECT document FROM estimates WHERE tracking_number = ?1)
"""
# A newer request for the same package replaces the older, and is due at once.
_REQUEST_ETA = """
INSERT INTO eta_requests (tracking_number, seq, lease_until) VALUES (?, ?, 0)
ON CONFLICT (tracking_number) DO UPDATE SET seq = excluded.seq, lease_until = 0, dead = NULL
"""


class SqliteState:
    """Implements PackageLedger, ReadModel and KeyStore over one SQLite file."""

    def __init__(self, path: Path, *, cache_size: int = 100_000, eta_requests: bool = True) -> None:
        """`eta_requests`: write an EDD request for every changed package (the EDD worker's
        outbox); off when no EDD worker runs."""
        self._path = path
        self._eta_requests = eta_requests
        self._sequence = 0
        self._cache = DocumentCache(cache_size)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="state-writer")
        self._writer_local = threading.local()
        self._readers = threading.local()
        conn = connect(path)
        try:
            conn.executescript(_SCHEMA)
            _add_missing_columns(conn)
        finally:
            conn.close()

    # -- PackageLedger ---------------------------------------------------------------------

    async def apply(
        self, scans: Sequence[Scan], packages: Sequence[Package], project: Projector
    ) -> Applied:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._writer, self._apply, scans, packages, project)

    def _apply(
        self, scans: Sequence[Scan], packages: Sequence[Package], project: Projector
    ) -> Applied:
        conn = self._writer_connection()
        changed: set[str] = set()
        new_scans = 0
        fresh: list[tuple[str, int, StoredDocument]] = []
        with conn:
            for registered in packages:
                cur = conn.execute(
                    _UPSERT_PACKAGE,
                    (
                        registered.tracking_number,
                        registered.registered_at,
                        encode_package(registered),
                    ),
                )
                if cur.rowcount:
                    changed.add(registered.tracking_number)
            for scan in scans:
                if conn.execute(_INSERT_SCAN, scan_row(scan)).rowcount:
                    new_scans += 1
                    changed.add(scan.tracking_number)
            for tn in sorted(changed):
                version, master, estimate = conn.execute(_SELECT_CURRENT, (tn,)).fetchone()
                package = decode_package(master) if master is not None else None
                history = [scan_from_row(r) for r in conn.execute(_SELECT_HISTORY, (tn,))]
                projection = project(tn, package, history, estimate)
                version = (version or 0) + 1
                conn.execute(
                    "INSERT OR REPLACE INTO documents VALUES (?, ?, ?, ?, ?)",
                    (tn, version, projection.status, projection.etag, projection.document),
                )
                if projection.milestones:
                    recorded = time.time_ns() // 1000
                    conn.executemany(
                        _INSERT_MILESTONE,
                        [(*milestone_row(m), recorded) for m in projection.milestones],
                    )
                fresh.append(
                    (
                        tn,
                        version,
                        StoredDocument(projection.document, projection.etag, projection.status),
                    )
                )
            if self._eta_requests and changed:
                conn.executemany(_REQUEST_ETA, [(tn, self.next_sequence()) for tn in changed])
        for tn, version, document in fresh:
            self._cache.put(tn, version, document)
        return Applied(new_scans=new_scans, changed_packages=len(changed))

    def next_sequence(self) -> int:
        """Increasing numbers for EDD requests (writer thread only): microseconds, made unique."""
        self._sequence = max(self._sequence + 1, time.time_ns() // 1000)
        return self._sequence

    def cache_document(self, tracking_number: str, version: int, document: StoredDocument) -> None:
        self._cache.put(tracking_number, version, document)

    async def write(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run `work` on the one writer thread with its connection (for the stores beside the
        ledger that share this file and its transactions' ordering)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._writer, lambda: work(self._writer_connection()))

    def reader(self) -> sqlite3.Connection:
        """This thread's read connection."""
        return self._reader()

    async def history(self, tracking_number: str) -> list[Scan]:
        rows = self._reader().execute(_SELECT_HISTORY, (tracking_number,)).fetchall()
        return [scan_from_row(r) for r in rows]

    async def package(self, tracking_number: str) -> Package | None:
        row = (
            self._reader()
            .execute("SELECT master FROM packages WHERE tracking_number = ?", (tracking_number,))
            .fetchone()
        )
        return None if row is None else decode_package(row[0])

    async def ping(self) -> None:
        self._reader().execute("SELECT 1 FROM documents LIMIT 1").fetchall()

    # -- ReadModel -------------------------------------------------------------------------

    async def document(self, tracking_number: str) -> StoredDocument | None:
        cached = self._cache.get(tracking_number)
        if cached is not None:
            return cached
        # A primary-key read of a local file takes microseconds: cheaper than a thread hop.
        row = (
            self._reader()
            .execute(
                "SELECT version, body, etag, status FROM documents WHERE tracking_number = ?",
                (tracking_number,),
            )
            .fetchone()
        )
        if row is None:
            return None
        document = StoredDocument(row[1], row[2], row[3])
        self._cache.put(tracking_number, row[0], document)
        return document

    # -- KeyStore --------------------------------------------------------------------------

    async def add_key(
        self, key_id: str, name: str, scopes: Sequence[str], secret_hash: str
    ) -> None:
        conn = self._reader()
        with conn:
            conn.execute(
                "INSERT INTO api_keys VALUES (?, ?, ?, ?, ?)",
                (key_id, name, " ".join(sorted(scopes)), secret_hash, time.time_ns() // 1000),
            )

    async def find_key(self, secret_hash: str) -> ApiKey | None:
        row = (
            self._reader()
            .execute(
                "SELECT key_id, name, scopes FROM api_keys WHERE secret_hash = ?", (secret_hash,)
            )
            .fetchone()
        )
        if row is None:
            return None
        return ApiKey(row[0], row[1], frozenset(row[2].split()))

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._writer, _close_thread_connection, self._writer_local)
        self._writer.shutdown(wait=True)
        _close_thread_connection(self._readers)

    def _writer_connection(self) -> sqlite3.Connection:
        return self._thread_connection(self._writer_local)

    def _reader(self) -> sqlite3.Connection:
        return self._thread_connection(self._readers)

    def _thread_connection(self, local: threading.local) -> sqlite3.Connection:
        """sqlite3 connections belong to the thread that opened them: one per thread."""
        conn: sqlite3.Connection | None = getattr(local, "conn", None)
        if conn is None:
            conn = connect(self._path)
            local.conn = conn
        return conn


def _close_thread_connection(local: threading.local) -> None:
    conn: sqlite3.Connection | None = getattr(local, "conn", None)
    if conn is not None:
        conn.close()
        local.conn = None


# Columns added after the first release, for state files made before them: proof of delivery
# and carrier windows (extras), the carrier's own words for an event (detail).
_ADDED_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("scans", "extras", "BLOB"),
    ("scans", "detail", "TEXT"),
)


def _add_missing_columns(conn: sqlite3.Connection) -> None:
    """SQLite has no ADD COLUMN IF NOT EXISTS."""
    for table, column, kind in _ADDED_COLUMNS:
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
