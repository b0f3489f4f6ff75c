"""Embedded EDD storage, in the ledger's `state.db`: the request outbox, estimates, and the index
of delivered packages that training reads.

Guarantees: the ledger writes a request in the same transaction as the change that caused it; a
request is removed only once its estimate is stored, and only if no newer change came meanwhile.
`save` stores estimates, patches documents (a new version each), records estimate-changed events
in the milestone outbox and indexes deliveries in one transaction, on the ledger's writer thread,
so it serializes with the processor's writes.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence

from parcelstream.domain.estimate import EstimateRecord
from parcelstream.domain.packages import Package
from parcelstream.domain.scans import Scan
from parcelstream.storage.ports import (
    Delivery,
    DocumentPatch,
    EstimateUpdate,
    EtaInput,
    StoredDocument,
)
from parcelstream.storage.rows import (
    MILESTONE_COLUMNS,
    SCAN_COLUMNS,
    decode_estimate,
    decode_package,
    encode_estimate,
    milestone_row,
    scan_from_row,
)
from parcelstream.storage.sqlite.state import SqliteState

_CLAIM = """
UPDATE eta_requests SET lease_until = :until
WHERE tracking_number IN (
    SELECT tracking_number FROM eta_requests
    WHERE dead IS NULL AND lease_until <= :now ORDER BY seq LIMIT :limit
)
RETURNING tracking_number, seq
"""
# The version first: a history read after it is at least as new, so a change in between can
# only make `save` drop the update, never keep an estimate made from an older history.
_INPUT = """
SELECT (SELECT version FROM documents WHERE tracking_number = ?1),
       (SELECT master FROM packages WHERE tracking_number = ?1),
       (SELECT record FROM estimates WHERE tracking_number = ?1)
"""
_HISTORY = f"SELECT {SCAN_COLUMNS} FROM scans WHERE tracking_number = ?"
_UPSERT_ESTIMATE = """
INSERT INTO estimates (tracking_number, record, document, updated_at) VALUES (?, ?, ?, ?)
ON CONFLICT (tracking_number) DO UPDATE SET record = excluded.record,
    document = excluded.document, updated_at = excluded.updated_at
"""
_INSERT_EVENT = (
    f"INSERT OR IGNORE INTO milestones ({MILESTONE_COLUMNS}, recorded_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


class SqliteEstimates:
    """Implements EstimateStore beside a SqliteState (same file, same writer thread)."""

    def __init__(
        self, state: SqliteState, *, lease_seconds: float = 60.0, poll_seconds: float = 0.05
    ) -> None:
        self._state = state
        self._lease = int(lease_seconds * 1_000_000)
        self._poll = poll_seconds

    def requests(self) -> _RequestConsumer:
        return _RequestConsumer(self._state, self._lease, self._poll)

    async def inputs(self, tracking_numbers: Sequence[str]) -> list[EtaInput]:
        # Thousands of reads: on a thread of their own, never on the event loop.
        return await asyncio.to_thread(self._inputs, tracking_numbers)

    def _inputs(self, tracking_numbers: Sequence[str]) -> list[EtaInput]:
        conn = self._state.reader()
        found = []
        for tn in tracking_numbers:
            version, master, record = conn.execute(_INPUT, (tn,)).fetchone()
            history = [scan_from_row(r) for r in conn.execute(_HISTORY, (tn,))]
            found.append(
                EtaInput(
                    tn,
                    decode_package(master) if master is not None else None,
                    history,
                    decode_estimate(record) if record is not None else None,
                    version,
                )
            )
        return found

    async def save(self, updates: Sequence[EstimateUpdate], patch: DocumentPatch) -> None:
        if not updates:
            return

        def work(conn: sqlite3.Connection) -> list[tuple[str, int, StoredDocument]]:
            now = time.time_ns() // 1000
            patched = []
            with conn:
                for update in updates:
                    tn = update.tracking_number
                    row = conn.execute(
                        "SELECT version, status, body FROM documents WHERE tracking_number = ?",
                        (tn,),
                    ).fetchone()
                    if update.version is not None and (row is None or row[0] != update.version):
                        continue  # changed since: its newer request will be estimated afresh
                    if update.record is not None:
                        conn.execute(
                            _UPSERT_ESTIMATE,
                            (tn, encode_estimate(update.record), update.document, now),
                        )
                    else:
                        conn.execute(
                            "UPDATE estimates SET document = NULL, updated_at = ?"
                            " WHERE tracking_number = ?",
                            (now, tn),
                        )
                    if row is not None:
                        body, etag = patch(row[2], update.document)
                        unchanged = body == row[2]
                        version = row[0] + 1
                        if not unchanged:
                            conn.execute(
                                "UPDATE documents SET version = ?, etag = ?, body = ?"
                                " WHERE tracking_number = ?",
                                (version, etag, body, tn),
                            )
                            patched.append((tn, version, StoredDocument(body, etag, row[1])))
                    if update.changed is not None:
                        conn.execute(_INSERT_EVENT, (*milestone_row(update.changed), now))
                    if update.delivered_at is not None:
                        conn.execute(
                            "INSERT OR IGNORE INTO eta_deliveries VALUES (?, ?)",
                            (update.delivered_at, tn),
                        )
            return patched

        for tn, version, document in await self._state.write(work):
            self._state.cache_document(tn, version, document)

    async def estimate(self, tracking_number: str) -> EstimateRecord | None:
        row = (
            self._state.reader()
            .execute("SELECT record FROM estimates WHERE tracking_number = ?", (tracking_number,))
            .fetchone()
        )
        return decode_estimate(row[0]) if row is not None else None

    async def delivered(
        self, since: int, until: int, batch: int
    ) -> AsyncIterator[list[tuple[Package | None, list[Scan]]]]:
        after = (since - 1, "")
        while True:
            chunk, after = await asyncio.to_thread(self._delivered, after, until, batch)
            if not chunk:
                return
            yield chunk

    def _delivered(
        self, after: tuple[int, str], until: int, batch: int
    ) -> tuple[list[tuple[Package | None, list[Scan]]], tuple[int, str]]:
        conn = self._state.reader()
        rows = conn.execute(
            "SELECT delivered_at, tracking_number FROM eta_deliveries"
            " WHERE (delivered_at, tracking_number) > (?, ?) AND delivered_at < ?"
            " ORDER BY delivered_at, tracking_number LIMIT ?",
            (*after, until, batch),
        ).fetchall()
        if not rows:
            return [], after
        numbers = [r[1] for r in rows]
        marks = ",".join("?" * len(numbers))
        masters = dict(
            conn.execute(
                f"SELECT tracking_number, master FROM packages WHERE tracking_number IN ({marks})",
                numbers,
            ).fetchall()
        )
        histories: dict[str, list[Scan]] = defaultdict(list)
        for r in conn.execute(
            f"SELECT {SCAN_COLUMNS} FROM scans WHERE tracking_number IN ({marks})", numbers
        ):
            histories[r[0]].append(scan_from_row(r))
        chunk = [
            (
                decode_package(masters[tn]) if masters.get(tn) is not None else None,
                histories[tn],
            )
            for tn in numbers
        ]
        return chunk, (rows[-1][0], rows[-1][1])


class _RequestConsumer:
    """The EDD request outbox as a LogConsumer: claimed under a lease, removed on ack."""

    def __init__(self, state: SqliteState, lease: int, poll: float) -> None:
        self._state = state
        self._lease = lease
        self._poll = poll

    async def fetch(self, max_records: int, max_wait: float) -> list[Delivery]:
        deadline = time.monotonic() + max_wait
        while True:
            now = time.time_ns() // 1000
            if not self._any_due(now):
                if time.monotonic() >= deadline:
                    return []
                await asyncio.sleep(self._poll)
                continue

            def claim(conn: sqlite3.Connection, now: int = now) -> list[tuple[str, int]]:
                with conn:
                    cur = conn.execute(
                        _CLAIM, {"until": now + self._lease, "now": now, "limit": max_records}
                    )
                    return [(r[0], r[1]) for r in cur.fetchall()]

            claimed = await self._state.write(claim)
            if claimed:
                return [Delivery(seq, tn.encode()) for tn, seq in sorted(claimed, key=_by_seq)]
            if time.monotonic() >= deadline:
                return []
            await asyncio.sleep(self._poll)

    def _any_due(self, now: int) -> bool:
        # A read first: an idle worker polling must not queue writes behind the processor's.
        row = (
            self._state.reader()
            .execute(
                "SELECT 1 FROM eta_requests WHERE dead IS NULL AND lease_until <= ? LIMIT 1",
                (now,),
            )
            .fetchone()
        )
        return row is not None

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        rows = [(d.payload.decode(), d.position) for d in deliveries]

        def remove(conn: sqlite3.Connection) -> None:
            with conn:
                conn.executemany(
                    "DELETE FROM eta_requests WHERE tracking_number = ? AND seq = ?", rows
                )

        await self._state.write(remove)

    async def dead_letter(self, delivery: Delivery, reason: str) -> None:
        row = (reason, delivery.payload.decode(), delivery.position)

        def park(conn: sqlite3.Connection) -> None:
            with conn:
                conn.execute(
                    "UPDATE eta_requests SET dead = ? WHERE tracking_number = ? AND seq = ?", row
                )

        await self._state.write(park)

    async def close(self) -> None:
        return None


def _by_seq(claimed: tuple[str, int]) -> int:
    return claimed[1]
