"""The driver app's on-device buffer: scans wait in a SQLite file until the server has them.

A scan is committed (WAL, synchronous=FULL) before `add` returns, and leaves the buffer only in
the transaction that records the server's answer for it, so a crash at any point loses nothing;
at worst a batch the server already stored is sent again, which its dedup makes harmless.
Proof-of-delivery files are copied (and fsynced) into `<buffer>.files/` before their delivery is
committed, and removed only after the server has taken them.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    scan TEXT NOT NULL,
    added_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS rejected (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    scan TEXT NOT NULL,
    errors TEXT NOT NULL,
    rejected_at REAL NOT NULL,
    files TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    scan TEXT NOT NULL,
    files TEXT NOT NULL,
    added_at REAL NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Pending:
    id: int
    scan: str
    """The scan as JSON text, exactly as it will go on the wire."""


@dataclass(frozen=True, slots=True)
class ProofFile:
    kind: str
    """"signature" or "photo"."""
    path: Path
    """The buffer's own copy."""


@dataclass(frozen=True, slots=True)
class PendingDelivery:
    id: int
    scan: str
    files: list[ProofFile]


@dataclass(frozen=True, slots=True)
class RejectedScan:
    """A scan (or a delivery with its proof files) the server refused; kept on the device, never
    sent again."""

    id: int
    scan: dict[str, Any]
    errors: list[dict[str, Any]]
    """The server's reasons: `{"field", "reason", "code"}` each."""
    rejected_at: float
    files: list[ProofFile]


class ScanBuffer:
    """Thread-safe: the app thread adds while a background flusher reads and settles."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.files_dir = path.with_name(path.name + ".files")
        self.files_dir.mkdir(exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, timeout=30.0, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA busy_timeout=30000")
        with self._lock, self._conn:
            self._conn.executescript(_SCHEMA)
        self._remove_orphan_files()

    def add(self, scans: Iterable[Mapping[str, Any]]) -> int:
        """Commit the scans durably; returns how many were added."""
        now = time.time()
        rows = [(json.dumps(dict(scan), separators=(",", ":")), now) for scan in scans]
        with self._lock, self._conn:
            self._conn.executemany("INSERT INTO pending (scan, added_at) VALUES (?, ?)", rows)
        return len(rows)

    def oldest(self, limit: int) -> list[Pending]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, scan FROM pending ORDER BY id LIMIT ?", (limit,)
            ).fetchall()
        return [Pending(row[0], row[1]) for row in rows]

    def settle(self, sent: Sequence[Pending], refusals: Mapping[int, list[dict[str, Any]]]) -> None:
        """The server answered for `sent`: drop them, keeping the refused ones (by position in
        `sent`) with their reasons. One transaction, so a crash leaves all or nothing."""
        now = time.time()
        refused = [
            (sent[index].scan, json.dumps(errors), now) for index, errors in refusals.items()
        ]
        with self._lock, self._conn:
            self._conn.executemany(
                "INSERT INTO rejected (scan, errors, rejected_at) VALUES (?, ?, ?)", refused
            )
            self._conn.executemany("DELETE FROM pending WHERE id = ?", [(p.id,) for p in sent])

    def pending_count(self) -> int:
        with self._lock:
            count: int = self._conn.execute("SELECT count(*) FROM pending").fetchone()[0]
        return count

    def rejected(self) -> list[RejectedScan]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, scan, errors, rejected_at, files FROM rejected ORDER BY id"
            ).fetchall()
        return [
            RejectedScan(r[0], json.loads(r[1]), json.loads(r[2]), r[3], self._files(r[4]))
            for r in rows
        ]

    def forget_rejected(self, ids: Iterable[int]) -> None:
        """Once the app has shown or corrected them; their proof files go too."""
        wanted = [(i,) for i in ids]
        with self._lock, self._conn:
            files = [
                f
                for (i,) in wanted
                for row in self._conn.execute("SELECT files FROM rejected WHERE id = ?", (i,))
                for f in self._files(row[0])
            ]
            self._conn.executemany("DELETE FROM rejected WHERE id = ?", wanted)
        _unlink(files)

    # -- deliveries with proof files ------------------------------------------------------------

    def add_delivery(self, scan: Mapping[str, Any], files: Sequence[tuple[str, bytes, str]]) -> int:
        """Copy the files in (fsynced), then commit the delivery: after a crash either both are
        there or the copies are orphans, removed at the next start."""
        copies: list[ProofFile] = []
        try:
            for kind, data, suffix in files:
                path = self.files_dir / f"{uuid.uuid4().hex}{suffix}"
                with path.open("xb") as file:
                    file.write(data)
                    file.flush()
                    os.fsync(file.fileno())
                copies.append(ProofFile(kind, path))
            _fsync_dir(self.files_dir)
            listed = json.dumps([{"kind": f.kind, "name": f.path.name} for f in copies])
            with self._lock, self._conn:
                cursor = self._conn.execute(
                    "INSERT INTO deliveries (scan, files, added_at) VALUES (?, ?, ?)",
                    (json.dumps(dict(scan), separators=(",", ":")), listed, time.time()),
                )
        except BaseException:
            _unlink(copies)
            raise
        return int(cursor.lastrowid or 0)

    def oldest_delivery(self) -> PendingDelivery | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT id, scan, files FROM deliveries ORDER BY id LIMIT 1"
            ).fetchone()
        if row is None:
            return None
        return PendingDelivery(row[0], row[1], self._files(row[2]))

    def settle_delivery(
        self, delivery: PendingDelivery, refusal: list[dict[str, Any]] | None
    ) -> None:
        """The server took it (files deleted) or refused it for good (kept, with its files)."""
        with self._lock, self._conn:
            if refusal is not None:
                listed = json.dumps([{"kind": f.kind, "name": f.path.name} for f in delivery.files])
                self._conn.execute(
                    "INSERT INTO rejected (scan, errors, rejected_at, files) VALUES (?, ?, ?, ?)",
                    (delivery.scan, json.dumps(refusal), time.time(), listed),
                )
            self._conn.execute("DELETE FROM deliveries WHERE id = ?", (delivery.id,))
        if refusal is None:
            _unlink(delivery.files)

    def deliveries_count(self) -> int:
        with self._lock:
            count: int = self._conn.execute("SELECT count(*) FROM deliveries").fetchone()[0]
        return count

    def _files(self, listed: str) -> list[ProofFile]:
        return [ProofFile(f["kind"], self.files_dir / f["name"]) for f in json.loads(listed)]

    def _remove_orphan_files(self) -> None:
        with self._lock:
            referenced = {
                f["name"]
                for table in ("deliveries", "rejected")
                for (listed,) in self._conn.execute(f"SELECT files FROM {table}")
                for f in json.loads(listed)
            }
        for path in self.files_dir.iterdir():
            if path.name not in referenced:
                path.unlink(missing_ok=True)

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _unlink(files: Iterable[ProofFile]) -> None:
    for file in files:
        file.path.unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
