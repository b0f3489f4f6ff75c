"""The drop ledger on PostgreSQL: one row per dropped file version, shared by every watcher.

Guarantees: a claim is one conditional upsert (`INSERT … ON CONFLICT DO UPDATE … WHERE`), which
PostgreSQL runs atomically per row, so two watchers never both hold an unfinished file and a
finished file is never claimed again.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from parcelstream.storage.drop_rows import (
    CHECKPOINT,
    CLAIM,
    DROP_COLUMNS,
    FINISH,
    claim_row,
    file_params,
    outcome_params,
    placeholders,
    progress_params,
    record_from_row,
)
from parcelstream.storage.ports import DropClaim, DropFile, DropOutcome, DropProgress, DropRecord
from parcelstream.storage.postgres.state import parse_url

_CLAIM = placeholders(CLAIM, "postgres")
_CHECKPOINT = placeholders(CHECKPOINT + " RETURNING 1", "postgres")
_FINISH = placeholders(FINISH + " RETURNING 1", "postgres")
_RECORDS = f"SELECT {DROP_COLUMNS} FROM drop_files WHERE key = $1 ORDER BY claimed_at"


class PostgresDropLedger:
    def __init__(self, pool: asyncpg.Pool, owns_pool: bool = False) -> None:
        self._pool = pool
        self._owns_pool = owns_pool

    @classmethod
    async def connect(cls, url: str) -> PostgresDropLedger:
        """With a small pool of its own: the ledger sees a few statements per file."""
        dsn, _ = parse_url(url)
        return cls(await asyncpg.create_pool(dsn, min_size=1, max_size=2), owns_pool=True)

    async def _fetch(self, query: tuple[str, list[str]], params: dict[str, Any]) -> list[Any]:
        sql, names = query
        return list(await self._pool.fetch(sql, *(params[name] for name in names)))

    async def claim(self, file: DropFile, owner: str, now: int, lease: int) -> DropClaim | None:
        params = file_params(file) | {"owner": owner, "now": now, "until": now + lease}
        rows = await self._fetch(_CLAIM, params)
        if not rows:
            return None
        clock, claims, progress = claim_row(tuple(rows[0]))
        return DropClaim(file, clock, progress, claims)

    async def checkpoint(
        self, file: DropFile, owner: str, progress: DropProgress, lease_until: int
    ) -> bool:
        params = file_params(file) | progress_params(progress)
        params |= {"owner": owner, "until": lease_until}
        return bool(await self._fetch(_CHECKPOINT, params))

    async def finish(self, file: DropFile, owner: str, outcome: DropOutcome, now: int) -> bool:
        params = file_params(file) | outcome_params(outcome) | {"owner": owner, "now": now}
        return bool(await self._fetch(_FINISH, params))

    async def records(self, key: str) -> list[DropRecord]:
        return [record_from_row(tuple(row)) for row in await self._pool.fetch(_RECORDS, key)]

    async def close(self) -> None:
        if self._owns_pool:
            await self._pool.close()
