"""Scaled-out EDD storage on PostgreSQL: the request outbox, estimates, and the index of delivered
packages that training reads (tables of migration 0004).

Guarantees: the ledger writes a request in the same transaction as the change that caused it.
Workers claim requests under a lease (`FOR UPDATE SKIP LOCKED`, so any number share them) and
remove one only if no newer change replaced it meanwhile. `save` is one transaction that locks the
packages' rows in tracking-number order first, as the processor does, so the two serialize on a
package and never deadlock; it stores estimates, patches documents (a new version each), records
estimate-changed events in the milestone outbox and indexes deliveries. With a Redis cache the
patched documents go there after commit, version-guarded, through the same cache outbox as the
processor's, so a patch never replaces a newer document.
"""

from __future__ import annotations

import asyncio
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
    VersionedDocument,
)
from parcelstream.storage.postgres.state import PostgresState
from parcelstream.storage.rows import (
    MILESTONE_COLUMNS,
    SCAN_COLUMNS,
    decode_estimate,
    decode_package,
    encode_estimate,
    milestone_row,
    scan_from_row,
)

_CLAIM = """
UPDATE eta_requests SET lease_until = $1
WHERE tracking_number IN (
    SELECT tracking_number FROM eta_requests
    WHERE dead IS NULL AND lease_until <= $2 ORDER BY seq LIMIT $3 FOR UPDATE SKIP LOCKED
)
RETURNING tracking_number, seq
"""
_ACK = """
DELETE FROM eta_requests AS r USING unnest($1::text[], $2::bigint[]) AS a(t, s)
WHERE r.tracking_number = a.t AND r.seq = a.s
"""
# Read before the histories, so a history is at least as new as the version `save` checks.
_SELECT_INPUTS = """
SELECT p.tracking_number, p.master, e.record, d.version
FROM unnest($1::text[]) AS t(tracking_number)
JOIN packages AS p ON p.tracking_number = t.tracking_number
LEFT JOIN estimates AS e ON e.tracking_number = t.tracking_number
LEFT JOIN documents AS d ON d.tracking_number = t.tracking_number
"""
# One index probe per package, pruned to its partition (see state.py's _SELECT_HISTORIES).
_SELECT_HISTORIES = f"""
SELECT s.* FROM unnest($1::text[]) AS t(tracking_number)
CROSS JOIN LATERAL (
    SELECT {SCAN_COLUMNS} FROM scans WHERE scans.tracking_number = t.tracking_number
) AS s
"""
_LOCK = """
SELECT tracking_number FROM packages WHERE tracking_number = ANY($1::text[])
ORDER BY tracking_number FOR UPDATE
"""
_UPSERT_ESTIMATES = """
INSERT INTO estimates AS e (tracking_number, record, document)
SELECT * FROM unnest($1::text[], $2::bytea[], $3::bytea[])
ON CONFLICT (tracking_number) DO UPDATE
SET record = excluded.record, document = excluded.document, updated_at = now()
"""
_CLEAR_ESTIMATES = """
UPDATE estimates SET document = NULL, updated_at = now() WHERE tracking_number = ANY($1::text[])
"""
_SELECT_DOCUMENTS = """
SELECT tracking_number, status, body, version FROM documents
WHERE tracking_number = ANY($1::text[])
"""
_PATCH_DOCUMENTS = """
UPDATE documents AS d SET version = d.version + 1, etag = u.e, body = u.b, updated_at = now()
FROM unnest($1::text[], $2::text[], $3::bytea[]) AS u(t, e, b)
WHERE d.tracking_number = u.t
RETURNING d.tracking_number, d.version
"""
_INSERT_EVENTS = f"""
INSERT INTO milestones ({MILESTONE_COLUMNS})
SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::bigint[], $6::smallint[],
                     $7::text[], $8::text[], $9::text[])
ON CONFLICT DO NOTHING
"""
_INDEX_DELIVERIES = """
INSERT INTO eta_deliveries (delivered_at, tracking_number)
SELECT * FROM unnest($1::bigint[], $2::text[]) ON CONFLICT DO NOTHING
"""


class PostgresEstimates:
    """Implements EstimateStore beside a PostgresState (same pool, same cache)."""

    def __init__(
        self, state: PostgresState, *, lease_seconds: float = 60.0, poll_seconds: float = 0.1
    ) -> None:
        self._state = state
        self._pool = state.pool
        self._lease = int(lease_seconds * 1_000_000)
        self._poll = poll_seconds

    def requests(self) -> _RequestConsumer:
        return _RequestConsumer(self, self._lease, self._poll)

    async def inputs(self, tracking_numbers: Sequence[str]) -> list[EtaInput]:
        numbers = list(tracking_numbers)
        async with self._pool.acquire() as conn:
            rows = {r[0]: r for r in await conn.fetch(_SELECT_INPUTS, numbers)}
            histories: dict[str, list[Scan]] = defaultdict(list)
            for row in await conn.fetch(_SELECT_HISTORIES, numbers):
                histories[row[0]].append(scan_from_row(row))
        found = []
        for tn in numbers:
            found_row = rows.get(tn)
            master = found_row[1] if found_row is not None else None
            record = found_row[2] if found_row is not None else None
            found.append(
                EtaInput(
                    tn,
                    decode_package(master) if master is not None else None,
                    histories[tn],
                    decode_estimate(record) if record is not None else None,
                    found_row[3] if found_row is not None else None,
                )
            )
        return found

    async def save(self, updates: Sequence[EstimateUpdate], patch: DocumentPatch) -> None:
        if not updates:
            return
        latest = {u.tracking_number: u for u in updates}
        numbers = sorted(latest)
        cache = self._state.cache
        documents: list[VersionedDocument] = []
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.fetch(_LOCK, numbers)
            current = {r[0]: r for r in await conn.fetch(_SELECT_DOCUMENTS, numbers)}
            # Made from an older document than the stored one: the change since brought a newer
            # request, which will be estimated afresh.
            fresh = [
                latest[tn]
                for tn in numbers
                if latest[tn].version is None
                or (tn in current and current[tn][3] == latest[tn].version)
            ]
            if not fresh:
                return
            kept = [u for u in fresh if u.record is not None]
            if kept:
                await conn.execute(
                    _UPSERT_ESTIMATES,
                    [u.tracking_number for u in kept],
                    [encode_estimate(u.record) for u in kept if u.record is not None],
                    [u.document for u in kept],
                )
            cleared = [u.tracking_number for u in fresh if u.record is None]
            if cleared:
                await conn.execute(_CLEAR_ESTIMATES, cleared)
            patched: dict[str, tuple[bytes, str]] = {}
            for update in fresh:
                row = current.get(update.tracking_number)
                if row is None:
                    continue
                body, etag = patch(row[2], update.document)
                if body != row[2]:
                    patched[update.tracking_number] = (body, etag)
            if patched:
                versions = await conn.fetch(
                    _PATCH_DOCUMENTS,
                    list(patched),
                    [etag for _, etag in patched.values()],
                    [body for body, _ in patched.values()],
                )
                documents = [
                    VersionedDocument(tn, version, StoredDocument(*patched[tn], current[tn][1]))
                    for tn, version in versions
                ]
            events = [milestone_row(u.changed) for u in fresh if u.changed is not None]
            if events:
                await conn.execute(_INSERT_EVENTS, *[list(c) for c in zip(*events, strict=True)])
            delivered = [u for u in fresh if u.delivered_at is not None]
            if delivered:
                await conn.execute(
                    _INDEX_DELIVERIES,
                    [u.delivered_at for u in delivered],
                    [u.tracking_number for u in delivered],
                )
            if cache is not None and documents:
                outbox_id = await conn.fetchval(
                    "INSERT INTO cache_outbox (tracking_numbers) VALUES ($1) RETURNING id",
                    [d.tracking_number for d in documents],
                )
        if cache is not None and documents:
            await self._state.feed_cache(documents, outbox_id)

    async def estimate(self, tracking_number: str) -> EstimateRecord | None:
        record = await self._pool.fetchval(
            "SELECT record FROM estimates WHERE tracking_number = $1", tracking_number
        )
        return decode_estimate(record) if record is not None else None

    async def delivered(
        self, since: int, until: int, batch: int
    ) -> AsyncIterator[list[tuple[Package | None, list[Scan]]]]:
        after: tuple[int, str] = (since - 1, "")
        while True:
            async with self._pool.acquire() as conn:
                rows = await conn.fetch(
                    "SELECT delivered_at, tracking_number FROM eta_deliveries"
                    " WHERE (delivered_at, tracking_number) > ($1, $2) AND delivered_at < $3"
                    " ORDER BY delivered_at, tracking_number LIMIT $4",
                    *after,
                    until,
                    batch,
                )
                if not rows:
                    return
                numbers = [r[1] for r in rows]
                masters = {
                    r[0]: r[1]
                    for r in await conn.fetch(
                        "SELECT tracking_number, master FROM packages"
                        " WHERE tracking_number = ANY($1::text[])",
                        numbers,
                    )
                }
                histories: dict[str, list[Scan]] = defaultdict(list)
                for row in await conn.fetch(_SELECT_HISTORIES, numbers):
                    histories[row[0]].append(scan_from_row(row))
            yield [
                (
                    decode_package(masters[tn]) if masters.get(tn) is not None else None,
                    histories[tn],
                )
                for tn in numbers
            ]
            after = (rows[-1][0], rows[-1][1])

    async def claim(self, limit: int) -> list[tuple[str, int]]:
        now = time.time_ns() // 1000
        rows = await self._pool.fetch(_CLAIM, now + self._lease, now, limit)
        return sorted(((r[0], r[1]) for r in rows), key=lambda r: r[1])

    async def remove(self, claimed: Sequence[tuple[str, int]]) -> None:
        await self._pool.execute(_ACK, [c[0] for c in claimed], [c[1] for c in claimed])

    async def park(self, tracking_number: str, seq: int, reason: str) -> None:
        await self._pool.execute(
            "UPDATE eta_requests SET dead = $3 WHERE tracking_number = $1 AND seq = $2",
            tracking_number,
            seq,
            reason,
        )


class _RequestConsumer:
    """The EDD request outbox as a LogConsumer: claimed under a lease, removed on ack."""

    def __init__(self, store: PostgresEstimates, lease: int, poll: float) -> None:
        self._store = store
        self._lease = lease
        self._poll = poll

    async def fetch(self, max_records: int, max_wait: float) -> list[Delivery]:
        deadline = time.monotonic() + max_wait
        while True:
            claimed = await self._store.claim(max_records)
            if claimed:
                return [Delivery(seq, tn.encode()) for tn, seq in claimed]
            if time.monotonic() >= deadline:
                return []
            await asyncio.sleep(self._poll)

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        await self._store.remove([(d.payload.decode(), d.position) for d in deliveries])

    async def dead_letter(self, delivery: Delivery, reason: str) -> None:
        await self._store.park(delivery.payload.decode(), delivery.position, reason)

    async def close(self) -> None:
        return None
