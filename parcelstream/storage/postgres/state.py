"""Scaled-out state on PostgreSQL: history, master data, tracking documents and API keys.

URL form: `postgresql://user:password@host:5432/dbname` (also `postgres://`), with `?pool=N` for the
connection pool size (default 10). The schema comes from `parcelstream migrate`; opening refuses a
database with migrations pending.

Guarantees: `apply` is one transaction. It first locks every package of the batch (their rows in
`packages`, in tracking-number order, so processors never deadlock and updates of one package
serialize), stores new scans with one statement (`ON CONFLICT DO NOTHING` on the dedup key), then
re-projects each changed package from its full history and bumps its document version. When a
read-model cache (Redis) is attached, the changed packages are also written to `cache_outbox` in
the same transaction and removed once the cache has them, so a crash between commit and cache
write is repaired by `sync_cache` rather than leaving the cache stale.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg

from parcelstream.domain.packages import Package
from parcelstream.domain.scans import DedupKey, Scan
from parcelstream.storage.ports import (
    ApiKey,
    Applied,
    DocumentSink,
    Projector,
    StoredDocument,
    VersionedDocument,
)
from parcelstream.storage.postgres.connection import Connection
from parcelstream.storage.postgres.migrate import pending
from parcelstream.storage.rows import (
    MILESTONE_COLUMNS,
    SCAN_COLUMNS,
    decode_package,
    encode_package,
    milestone_row,
    scan_from_row,
    scan_row,
)
from parcelstream.storage.urls import mask_password, split_options

log = logging.getLogger(__name__)

_CACHE_CHUNK = 500

_ENSURE_PACKAGES = """
INSERT INTO packages (tracking_number)
SELECT t FROM unnest($1::text[]) AS t ORDER BY t
ON CONFLICT (tracking_number) DO NOTHING
"""
_LOCK_PACKAGES = """
SELECT tracking_number, master FROM packages
WHERE tracking_number = ANY($1::text[]) ORDER BY tracking_number FOR UPDATE
"""
_UPSERT_MASTER = """
UPDATE packages AS p SET registered_at = u.registered_at, master = u.master
FROM unnest($1::text[], $2::bigint[], $3::bytea[]) AS u(tracking_number, registered_at, master)
WHERE p.tracking_number = u.tracking_number
  AND (p.registered_at IS NULL OR u.registered_at >= p.registered_at)
RETURNING p.tracking_number, p.master
"""
_INSERT_SCANS = f"""
INSERT INTO scans ({SCAN_COLUMNS})
SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::smallint[],
                     $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],
                     $12::bytea[], $13::text[])
ON CONFLICT DO NOTHING
RETURNING tracking_number
"""
# One index probe per package, each pruned to its partition at run time. `= ANY($1)` instead
# probes every partition for every number, and without fresh statistics degrades to full scans.
_SELECT_HISTORIES = f"""
SELECT s.* FROM unnest($1::text[]) AS t(tracking_number)
CROSS JOIN LATERAL (
    SELECT {SCAN_COLUMNS} FROM scans WHERE scans.tracking_number = t.tracking_number
) AS s
"""
_UPSERT_DOCUMENTS = """
INSERT INTO documents AS d (tracking_number, version, status, etag, body)
SELECT t, 1, s, e, b FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[]) AS u(t, s, e, b)
ON CONFLICT (tracking_number) DO UPDATE
SET version = d.version + 1, status = excluded.status, etag = excluded.etag, body = excluded.body,
    updated_at = now()
RETURNING tracking_number, version
"""
_INSERT_MILESTONES = f"""
INSERT INTO milestones ({MILESTONE_COLUMNS})
SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::bigint[], $6::smallint[],
                     $7::text[], $8::text[], $9::text[])
ON CONFLICT DO NOTHING
"""
_SELECT_ESTIMATES = """
SELECT tracking_number, document FROM estimates
WHERE tracking_number = ANY($1::text[]) AND document IS NOT NULL
"""
# A newer request for the same package replaces the older, and is due at once.
_REQUEST_ETA = """
INSERT INTO eta_requests (tracking_number, seq)
SELECT t, nextval('eta_request_seq') FROM unnest($1::text[]) AS t ORDER BY t
ON CONFLICT (tracking_number) DO UPDATE SET seq = excluded.seq, lease_until = 0, dead = NULL
"""
_SELECT_DOCUMENTS = """
SELECT tracking_number, version, body, etag, status FROM documents
WHERE tracking_number = ANY($1::text[])
"""


class PostgresState:
    """Implements PackageLedger, ReadModel, KeyStore and the read-through's VersionedReadModel."""

    def __init__(
        self, pool: asyncpg.Pool, cache: DocumentSink | None = None, *, eta_requests: bool = True
    ) -> None:
        """`eta_requests`: write an EDD request for every changed package (the EDD worker's
        outbox); off when no EDD worker runs."""
        self._pool = pool
        self._cache = cache
        self._eta_requests = eta_requests

    @classmethod
    async def connect(
        cls, url: str, cache: DocumentSink | None = None, *, eta_requests: bool = True
    ) -> PostgresState:
        dsn, pool_size = parse_url(url)
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=pool_size)
        async with pool.acquire() as conn:
            missing = await pending(conn)
        if missing:
            await pool.close()
            raise RuntimeError(
                f"the database at {mask_password(url)} lacks migrations {', '.join(missing)}:"
                " run `parcelstream migrate` first"
            )
        return cls(pool, cache, eta_requests=eta_requests)

    @property
    def pool(self) -> asyncpg.Pool:
        """Shared with the other stores on the same database (notifications)."""
        return self._pool

    # -- PackageLedger ---------------------------------------------------------------------

    async def apply(
        self, scans: Sequence[Scan], packages: Sequence[Package], project: Projector
    ) -> Applied:
        latest = _latest_registrations(packages)
        numbers = sorted({s.tracking_number for s in scans} | latest.keys())
        if not numbers:
            return Applied(0, 0)
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(_ENSURE_PACKAGES, numbers)
            masters = {r[0]: r[1] for r in await conn.fetch(_LOCK_PACKAGES, numbers)}
            changed: set[str] = set()
            if latest:
                registrations = sorted(latest.values(), key=lambda p: p.tracking_number)
                for tn, master in await conn.fetch(
                    _UPSERT_MASTER,
                    [p.tracking_number for p in registrations],
                    [p.registered_at for p in registrations],
                    [encode_package(p) for p in registrations],
                ):
                    masters[tn] = master
                    changed.add(tn)
            inserted = await conn.fetch(_INSERT_SCANS, *_columns(scans)) if scans else []
            changed.update(row[0] for row in inserted)
            if not changed:
                return Applied(0, 0)
            documents = await self._project(conn, sorted(changed), masters, project)
            if self._eta_requests:
                await conn.execute(_REQUEST_ETA, sorted(changed))
            if self._cache is not None:
                outbox_id = await conn.fetchval(
                    "INSERT INTO cache_outbox (tracking_numbers) VALUES ($1) RETURNING id",
                    sorted(changed),
                )
        if self._cache is not None:
            await self._feed_cache(documents, outbox_id)
        return Applied(new_scans=len(inserted), changed_packages=len(changed))

    async def _project(
        self,
        conn: Connection,
        changed: list[str],
        masters: dict[str, bytes | None],
        project: Projector,
    ) -> list[VersionedDocument]:
        histories: dict[str, list[Scan]] = defaultdict(list)
        for row in await conn.fetch(_SELECT_HISTORIES, changed):
            histories[row[0]].append(scan_from_row(row))
        estimates: dict[str, bytes] = {}
        if self._eta_requests:
            estimates = {r[0]: r[1] for r in await conn.fetch(_SELECT_ESTIMATES, changed)}
        projections = []
        for tn in changed:
            master = masters.get(tn)
            projections.append(
                project(
                    tn,
                    decode_package(master) if master else None,
                    histories[tn],
                    estimates.get(tn),
                )
            )
        rows = await conn.fetch(
            _UPSERT_DOCUMENTS,
            changed,
            [p.status for p in projections],
            [p.etag for p in projections],
            [p.document for p in projections],
        )
        milestones = [milestone_row(m) for p in projections for m in p.milestones]
        if milestones:
            await conn.execute(
                _INSERT_MILESTONES, *[list(c) for c in zip(*milestones, strict=True)]
            )
        versions = {r[0]: r[1] for r in rows}
        return [
            VersionedDocument(tn, versions[tn], StoredDocument(p.document, p.etag, p.status))
            for tn, p in zip(changed, projections, strict=True)
        ]

    @property
    def cache(self) -> DocumentSink | None:
        return self._cache

    async def feed_cache(self, documents: list[VersionedDocument], outbox_id: int) -> None:
        """Copy freshly committed documents to the cache; their outbox row goes once it has them."""
        await self._feed_cache(documents, outbox_id)

    async def _feed_cache(self, documents: list[VersionedDocument], outbox_id: int) -> None:
        try:
            await self._put_in_cache(documents)
        except Exception as exc:
            # The outbox row stays; sync_cache retries once the cache answers again.
            log.warning("read-model cache write failed, left for sync: %r", exc)
            return
        await self._pool.execute("DELETE FROM cache_outbox WHERE id = $1", outbox_id)

    async def sync_cache(self, older_than: float = 5.0, limit: int = 100) -> int:
        """Copy documents named in outbox rows older than `older_than` seconds to the cache."""
        if self._cache is None:
            return 0
        rows = await self._pool.fetch(
            "SELECT id, tracking_numbers FROM cache_outbox"
            " WHERE created_at < now() - make_interval(secs => $1) ORDER BY id LIMIT $2",
            older_than,
            limit,
        )
        synced = 0
        for outbox_id, numbers in rows:
            documents = await self._versioned(numbers)
            await self._put_in_cache(documents)
            await self._pool.execute("DELETE FROM cache_outbox WHERE id = $1", outbox_id)
            synced += len(documents)
        return synced

    async def _put_in_cache(self, documents: list[VersionedDocument]) -> None:
        # Modest pipelines: a lookup-sized socket timeout must hold for each of them.
        assert self._cache is not None
        for start in range(0, len(documents), _CACHE_CHUNK):
            await self._cache.put_documents(documents[start : start + _CACHE_CHUNK])

    async def history(self, tracking_number: str) -> list[Scan]:
        rows = await self._pool.fetch(
            f"SELECT {SCAN_COLUMNS} FROM scans WHERE tracking_number = $1"
            " ORDER BY occurred_at DESC",
            tracking_number,
        )
        return [scan_from_row(r) for r in rows]

    async def package(self, tracking_number: str) -> Package | None:
        master = await self._pool.fetchval(
            "SELECT master FROM packages WHERE tracking_number = $1", tracking_number
        )
        return decode_package(master) if master is not None else None

    async def ping(self) -> None:
        await self._pool.fetchval("SELECT 1")

    # -- ReadModel and the read-through's VersionedReadModel ---------------------------------

    async def document(self, tracking_number: str) -> StoredDocument | None:
        row = await self._pool.fetchrow(
            "SELECT body, etag, status FROM documents WHERE tracking_number = $1", tracking_number
        )
        return StoredDocument(row[0], row[1], row[2]) if row is not None else None

    async def versioned_document(self, tracking_number: str) -> VersionedDocument | None:
        found = await self._versioned([tracking_number])
        return found[0] if found else None

    async def iter_documents(self, batch: int) -> AsyncIterator[list[VersionedDocument]]:
        after = ""
        while True:
            rows = await self._pool.fetch(
                "SELECT tracking_number, version, body, etag, status FROM documents"
                " WHERE tracking_number > $1 ORDER BY tracking_number LIMIT $2",
                after,
                batch,
            )
            if not rows:
                return
            yield [_versioned_from_row(r) for r in rows]
            after = rows[-1][0]

    async def _versioned(self, numbers: Sequence[str]) -> list[VersionedDocument]:
        rows = await self._pool.fetch(_SELECT_DOCUMENTS, list(numbers))
        return [_versioned_from_row(r) for r in rows]

    # -- KeyStore --------------------------------------------------------------------------

    async def add_key(
        self, key_id: str, name: str, scopes: Sequence[str], secret_hash: str
    ) -> None:
        await self._pool.execute(
            "INSERT INTO api_keys (key_id, name, scopes, secret_hash) VALUES ($1, $2, $3, $4)",
            key_id,
            name,
            sorted(scopes),
            secret_hash,
        )

    async def find_key(self, secret_hash: str) -> ApiKey | None:
        row = await self._pool.fetchrow(
            "SELECT key_id, name, scopes FROM api_keys WHERE secret_hash = $1", secret_hash
        )
        return ApiKey(row[0], row[1], frozenset(row[2])) if row is not None else None

    async def close(self) -> None:
        await asyncio.wait_for(self._pool.close(), 10)


def _latest_registrations(packages: Sequence[Package]) -> dict[str, Package]:
    """One registration per number (the latest; later in log order wins a tie), because one
    UPDATE statement may not touch a row twice."""
    latest: dict[str, Package] = {}
    for package in packages:
        current = latest.get(package.tracking_number)
        if current is None or package.registered_at >= current.registered_at:
            latest[package.tracking_number] = package
    return latest


def _columns(scans: Sequence[Scan]) -> list[list[Any]]:
    """Column arrays for unnest, deduplicated and in key order (a stable order for locks)."""
    # The first of a key wins, as a resend later in the log would lose (DO NOTHING).
    first: dict[DedupKey, tuple[Any, ...]] = {}
    for scan in scans:
        if scan.dedup_key not in first:
            first[scan.dedup_key] = scan_row(scan)
    rows = sorted(first.values(), key=lambda r: r[:4])
    return [list(column) for column in zip(*rows, strict=True)]


def _versioned_from_row(row: Any) -> VersionedDocument:
    return VersionedDocument(row[0], row[1], StoredDocument(row[2], row[3], row[4]))


def parse_url(url: str) -> tuple[str, int]:
    """(the DSN asyncpg takes, our pool size) from a PARCELSTREAM_DATABASE_URL."""
    dsn, options = split_options(url, {"pool"})
    if dsn.startswith("postgres://"):
        dsn = "postgresql://" + dsn.removeprefix("postgres://")
    return dsn, int(options.get("pool", "10"))
