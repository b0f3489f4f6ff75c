"""Polling state of partner-carrier packages on PostgreSQL, shared by every poller process.

Guarantees: an update locks the packages' rows (in tracking-number order, so updaters never
deadlock) and writes them in one transaction. Claims take due rows with `FOR UPDATE SKIP LOCKED`
and push their due time out by a lease in the same statement, so several pollers share the work
without polling a package twice, and a crashed poller's claim comes back when the lease ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import asyncpg

from parcelstream.domain.polling import PollState
from parcelstream.storage.ports import PollChange
from parcelstream.storage.rows import POLL_COLUMNS, poll_from_row, poll_row
from parcelstream.storage.urls import mask_password

_ENSURE = """
INSERT INTO carrier_polls (tracking_number, carrier, heard_at, status, event_at, polls, found)
SELECT t, '', 0, '', 0, 0, 0 FROM unnest($1::text[]) AS t ORDER BY t
ON CONFLICT (tracking_number) DO NOTHING
"""
_UPSERT = f"""
INSERT INTO carrier_polls ({POLL_COLUMNS})
SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bigint[],
                     $6::bigint[], $7::bigint[], $8::int[], $9::int[], $10::bigint[],
                     $11::bigint[])
ON CONFLICT (tracking_number) DO UPDATE SET
    carrier = excluded.carrier, heard_at = excluded.heard_at, status = excluded.status,
    event_at = excluded.event_at, polled_at = excluded.polled_at, due_at = excluded.due_at,
    polls = excluded.polls, found = excluded.found, subscribed_until = excluded.subscribed_until,
    renew_at = excluded.renew_at
"""


def _claim_sql(column: str, extra: str) -> str:
    return f"""
WITH due AS (
    SELECT tracking_number FROM carrier_polls
    WHERE {column} <= $1 AND carrier = ANY($2::text[]){extra}
    ORDER BY {column} LIMIT $3 FOR UPDATE SKIP LOCKED
), before AS (
    SELECT {POLL_COLUMNS} FROM carrier_polls WHERE tracking_number IN (SELECT * FROM due)
), claimed AS (
    UPDATE carrier_polls AS p SET {column} = $4 FROM due
    WHERE p.tracking_number = due.tracking_number
)
SELECT * FROM before ORDER BY {column}
"""


_CLAIM_DUE = _claim_sql("due_at", "")
_CLAIM_RENEWALS = _claim_sql("renew_at", " AND due_at IS NOT NULL")


class PostgresPolls:
    """Implements PollSchedule on its own small pool (only pollers open it)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    async def connect(cls, dsn: str, pool_size: int = 4) -> PostgresPolls:
        try:
            pool = await asyncpg.create_pool(dsn, min_size=1, max_size=pool_size)
        except (OSError, asyncpg.PostgresError) as exc:
            raise RuntimeError(f"cannot open {mask_password(dsn)}: {exc!r}") from exc
        return cls(pool)

    async def update(self, tracking_numbers: Sequence[str], change: PollChange) -> int:
        numbers = sorted(set(tracking_numbers))
        if not numbers:
            return 0
        async with self._pool.acquire() as conn, conn.transaction():
            # A placeholder row for each new number first, so that FOR UPDATE also serializes
            # two updaters creating the same package.
            await conn.execute(_ENSURE, numbers)
            rows = await conn.fetch(
                f"SELECT {POLL_COLUMNS} FROM carrier_polls WHERE tracking_number = ANY($1::text[])"
                " ORDER BY tracking_number FOR UPDATE",
                numbers,
            )
            current = {r[0]: poll_from_row(r) for r in rows if r[1]}
            changed: list[PollState] = []
            for tn in numbers:
                state = change(tn, current.get(tn))
                if state is not None:
                    changed.append(state)
            created = {s.tracking_number for s in changed}
            leftover = [tn for tn in numbers if tn not in current and tn not in created]
            if leftover:
                await conn.execute(
                    "DELETE FROM carrier_polls WHERE tracking_number = ANY($1::text[])"
                    " AND carrier = ''",
                    leftover,
                )
            if changed:
                await conn.execute(
                    _UPSERT, *[list(c) for c in zip(*map(poll_row, changed), strict=True)]
                )
            return len(changed)

    async def claim_due(
        self, carriers: Sequence[str], limit: int, now: int, lease: int
    ) -> list[PollState]:
        rows = await self._pool.fetch(_CLAIM_DUE, now, list(carriers), limit, now + lease)
        return [poll_from_row(r) for r in rows]

    async def claim_renewals(
        self, carrier: str, limit: int, now: int, lease: int
    ) -> list[PollState]:
        rows = await self._pool.fetch(_CLAIM_RENEWALS, now, [carrier], limit, now + lease)
        return [poll_from_row(r) for r in rows]

    async def poll_state(self, tracking_number: str) -> PollState | None:
        row = await self._pool.fetchrow(
            f"SELECT {POLL_COLUMNS} FROM carrier_polls"
            " WHERE tracking_number = $1 AND carrier <> ''",
            tracking_number,
        )
        return poll_from_row(row) if row else None

    async def close(self) -> None:
        await asyncio.wait_for(self._pool.close(), 10)
