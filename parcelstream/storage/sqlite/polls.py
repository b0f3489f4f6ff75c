"""Embedded polling state of partner-carrier packages, in the same `state.db` as the ledger.

Guarantees: every change runs on one writer thread in one transaction, so an update of a
package never interleaves with another; a claim hides packages for a lease, so a poller that
crashed mid-poll has them polled again once the lease runs out.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from parcelstream.domain.polling import PollState
from parcelstream.storage.ports import PollChange
from parcelstream.storage.rows import POLL_COLUMNS, poll_from_row, poll_row
from parcelstream.storage.sqlite.connection import WriterThread

_SCHEMA = """
CREATE TABLE IF NOT EXISTS carrier_polls (
    tracking_number TEXT PRIMARY KEY,
    carrier TEXT NOT NULL,
    heard_at INTEGER NOT NULL,
    status TEXT NOT NULL,
    event_at INTEGER NOT NULL,
    polled_at INTEGER,
    due_at INTEGER,
    polls INTEGER NOT NULL,
    found INTEGER NOT NULL,
    subscribed_until INTEGER,
    renew_at INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS carrier_polls_due ON carrier_polls (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS carrier_polls_renewals ON carrier_polls (carrier, renew_at)
    WHERE renew_at IS NOT NULL AND due_at IS NOT NULL;
"""
_UPSERT = f"INSERT OR REPLACE INTO carrier_polls ({POLL_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
_QUERY_CHUNK = 900


class SqlitePolls:
    """Implements PollSchedule over the embedded state file."""

    def __init__(self, path: Path) -> None:
        self._writer = WriterThread(path, _SCHEMA, "polls-writer")

    async def update(self, tracking_numbers: Sequence[str], change: PollChange) -> int:
        written: int = await self._writer.run(self._update, sorted(set(tracking_numbers)), change)
        return written

    def _update(self, numbers: list[str], change: PollChange) -> int:
        conn = self._writer.connection()
        written = 0
        with conn:
            current: dict[str, PollState] = {}
            for start in range(0, len(numbers), _QUERY_CHUNK):
                chunk = numbers[start : start + _QUERY_CHUNK]
                marks = ",".join("?" * len(chunk))
                for row in conn.execute(
                    f"SELECT {POLL_COLUMNS} FROM carrier_polls WHERE tracking_number IN ({marks})",
                    chunk,
                ):
                    current[row[0]] = poll_from_row(row)
            rows = []
            for tn in numbers:
                changed = change(tn, current.get(tn))
                if changed is not None:
                    rows.append(poll_row(changed))
            conn.executemany(_UPSERT, rows)
            written = len(rows)
        return written

    async def claim_due(
        self, carriers: Sequence[str], limit: int, now: int, lease: int
    ) -> list[PollState]:
        claimed: list[PollState] = await self._writer.run(
            self._claim, "due_at", "due_at", list(carriers), limit, now, lease
        )
        return claimed

    async def claim_renewals(
        self, carrier: str, limit: int, now: int, lease: int
    ) -> list[PollState]:
        claimed: list[PollState] = await self._writer.run(
            self._claim, "renew_at", "renew_at", [carrier], limit, now, lease
        )
        return claimed

    def _claim(
        self, column: str, order: str, carriers: list[str], limit: int, now: int, lease: int
    ) -> list[PollState]:
        if not carriers:
            return []
        conn = self._writer.connection()
        marks = ",".join("?" * len(carriers))
        extra = " AND due_at IS NOT NULL" if column == "renew_at" else ""
        with conn:
            rows = conn.execute(
                f"SELECT {POLL_COLUMNS} FROM carrier_polls WHERE {column} IS NOT NULL"
                f" AND {column} <= ? AND carrier IN ({marks}){extra}"
                f" ORDER BY {order} LIMIT ?",
                (now, *carriers, limit),
            ).fetchall()
            conn.executemany(
                f"UPDATE carrier_polls SET {column} = ? WHERE tracking_number = ?",
                [(now + lease, row[0]) for row in rows],
            )
        return [poll_from_row(row) for row in rows]

    async def poll_state(self, tracking_number: str) -> PollState | None:
        found: PollState | None = await self._writer.run(self._state, tracking_number)
        return found

    def _state(self, tracking_number: str) -> PollState | None:
        row = (
            self._writer.connection()
            .execute(
                f"SELECT {POLL_COLUMNS} FROM carrier_polls WHERE tracking_number = ?",
                (tracking_number,),
            )
            .fetchone()
        )
        return poll_from_row(row) if row else None

    async def close(self) -> None:
        await self._writer.close()
