"""The embedded drop ledger: one row per dropped file version in `state.db`.

Guarantees: a claim is one conditional upsert in an immediate transaction, so two watchers (in
any processes) never both hold an unfinished file, and a finished file is never claimed again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
from parcelstream.storage.sqlite.connection import WriterThread

_SCHEMA = """
CREATE TABLE IF NOT EXISTS drop_files (
    key TEXT NOT NULL,
    etag TEXT NOT NULL,
    size INTEGER NOT NULL,
    state TEXT NOT NULL,
    owner TEXT NOT NULL,
    claims INTEGER NOT NULL,
    clock INTEGER NOT NULL,
    lease_until INTEGER NOT NULL,
    claimed_at INTEGER NOT NULL,
    rows_done INTEGER NOT NULL DEFAULT 0,
    appending_through INTEGER NOT NULL DEFAULT 0,
    accepted INTEGER NOT NULL DEFAULT 0,
    duplicates INTEGER NOT NULL DEFAULT 0,
    replayed INTEGER NOT NULL DEFAULT 0,
    rows INTEGER,
    rejected INTEGER,
    sha256 TEXT,
    error TEXT,
    finished_at INTEGER,
    PRIMARY KEY (key, etag, size)
) WITHOUT ROWID;
"""

_CLAIM, _ = placeholders(CLAIM, "sqlite")
_CHECKPOINT, _ = placeholders(CHECKPOINT, "sqlite")
_FINISH, _ = placeholders(FINISH, "sqlite")


class SqliteDropLedger:
    def __init__(self, path: Path) -> None:
        self._writer = WriterThread(path, _SCHEMA, "drops-ledger", autocommit=True)

    def _write(self, sql: str, params: dict[str, Any]) -> list[Any]:
        # BEGIN IMMEDIATE takes the write lock before the claim reads.
        conn = self._writer.connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            rows = conn.execute(sql, params).fetchall()
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return rows

    async def claim(self, file: DropFile, owner: str, now: int, lease: int) -> DropClaim | None:
        params = file_params(file) | {"owner": owner, "now": now, "until": now + lease}
        rows = await self._writer.run(self._write, _CLAIM, params)
        if not rows:
            return None
        clock, claims, progress = claim_row(rows[0])
        return DropClaim(file, clock, progress, claims)

    async def checkpoint(
        self, file: DropFile, owner: str, progress: DropProgress, lease_until: int
    ) -> bool:
        params = (
            file_params(file) | progress_params(progress) | {"owner": owner, "until": lease_until}
        )
        rows = await self._writer.run(self._write, _CHECKPOINT + " RETURNING 1", params)
        return bool(rows)

    async def finish(self, file: DropFile, owner: str, outcome: DropOutcome, now: int) -> bool:
        params = file_params(file) | outcome_params(outcome) | {"owner": owner, "now": now}
        rows = await self._writer.run(self._write, _FINISH + " RETURNING 1", params)
        return bool(rows)

    async def records(self, key: str) -> list[DropRecord]:
        sql = f"SELECT {DROP_COLUMNS} FROM drop_files WHERE key = :key ORDER BY claimed_at"
        rows = await self._writer.run(self._write, sql, {"key": key})
        return [record_from_row(row) for row in rows]

    async def close(self) -> None:
        await self._writer.close()
