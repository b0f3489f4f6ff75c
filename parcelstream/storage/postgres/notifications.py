"""Notification storage on PostgreSQL, beside the ledger (whose transaction writes the milestone
outbox): subscriptions, opt-outs, deliveries and every attempt.

Guarantees: several notifiers may run at once. Dispatch takes outbox rows with
`FOR UPDATE SKIP LOCKED` and plans their deliveries in the same transaction; a delivery's event
id is unique, so an occurrence is never planned twice. A claim hides deliveries for a lease, so a
crashed notifier's claim is retried once the lease runs out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from parcelstream.domain.notifications import (
    Attempt,
    DeliveryRecord,
    Outgoing,
    Subscription,
)
from parcelstream.storage.ports import Planner
from parcelstream.storage.rows import (
    MILESTONE_COLUMNS,
    decode_package,
    milestone_from_row,
    outgoing_from_row,
    planned_row,
)

_M_COLUMNS = ", ".join(f"m.{c.strip()}" for c in MILESTONE_COLUMNS.split(","))
_PENDING = f"""
SELECT {MILESTONE_COLUMNS} FROM milestones WHERE NOT dispatched
ORDER BY recorded_at LIMIT $1 FOR UPDATE SKIP LOCKED
"""
_CLAIM = f"""
WITH due AS (
    SELECT delivery_id FROM deliveries
    WHERE state = 'pending' AND next_attempt_at <= $1
    ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE deliveries AS d SET next_attempt_at = $3 FROM due
    WHERE d.delivery_id = due.delivery_id
    RETURNING d.*
)
SELECT c.delivery_id, c.event_id, c.subscription_id, c.channel, c.address, c.attempts,
       c.created_at, {_M_COLUMNS}
FROM claimed AS c JOIN milestones AS m
  ON m.tracking_number = c.tracking_number AND m.milestone = c.milestone AND m.number = c.number
ORDER BY c.delivery_id
"""
_INSERT_DELIVERIES = """
INSERT INTO deliveries (event_id, tracking_number, milestone, number, subscription_id, channel,
                        address, next_attempt_at, created_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::text[],
                     $7::text[], $8::bigint[], $9::bigint[])
ON CONFLICT (event_id) DO NOTHING
"""
_RECORD = {
    "sent": "UPDATE deliveries SET state = 'sent', attempts = attempts + 1, sent_at = $2,"
    " provider = $3, provider_message_id = $4, latency_ms = $5, last_error = NULL"
    " WHERE delivery_id = $1",
    "retry": "UPDATE deliveries SET attempts = attempts + 1, next_attempt_at = $2, provider = $3,"
    " last_error = $4 WHERE delivery_id = $1",
    "dead": "UPDATE deliveries SET state = 'dead', attempts = attempts + 1, provider = $2,"
    " last_error = $3 WHERE delivery_id = $1",
}


class PostgresNotifications:
    """Implements SubscriptionStore and NotificationQueue on the ledger's pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    # -- SubscriptionStore -----------------------------------------------------------------

    async def subscribe(self, s: Subscription) -> None:
        await self._pool.execute(
            "INSERT INTO subscriptions VALUES ($1, $2, $3, $4, $5, $6, $7, false)",
            s.subscription_id,
            s.tracking_number,
            s.channel,
            s.address,
            sorted(s.milestones),
            s.source,
            s.secret,
        )

    async def unsubscribe(self, subscription_id: str) -> Subscription | None:
        row = await self._pool.fetchrow(
            "UPDATE subscriptions SET removed = true WHERE subscription_id = $1 AND NOT removed"
            " RETURNING *",
            subscription_id,
        )
        return _subscription_from_row(row) if row else None

    async def opt_out(self, tracking_number: str, channel: str, address: str) -> None:
        await self._pool.execute(
            "INSERT INTO opt_outs VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            tracking_number,
            channel,
            address,
        )

    async def subscription(self, subscription_id: str) -> Subscription | None:
        row = await self._pool.fetchrow(
            "SELECT * FROM subscriptions WHERE subscription_id = $1 AND NOT removed",
            subscription_id,
        )
        return _subscription_from_row(row) if row else None

    # -- NotificationQueue -----------------------------------------------------------------

    async def dispatch(self, limit: int, plan: Planner, now: int) -> int:
        async with self._pool.acquire() as conn, conn.transaction():
            occurrences = [milestone_from_row(r) for r in await conn.fetch(_PENDING, limit)]
            if not occurrences:
                return 0
            numbers = sorted({o.tracking_number for o in occurrences})
            masters = {
                r[0]: r[1]
                for r in await conn.fetch(
                    "SELECT tracking_number, master FROM packages"
                    " WHERE tracking_number = ANY($1::text[])",
                    numbers,
                )
            }
            subscriptions: dict[str, list[Subscription]] = {}
            for row in await conn.fetch(
                "SELECT * FROM subscriptions WHERE tracking_number = ANY($1::text[])"
                " AND NOT removed",
                numbers,
            ):
                subscriptions.setdefault(row[1], []).append(_subscription_from_row(row))
            opted_out: dict[str, set[tuple[str, str]]] = {}
            for tn, channel, address in await conn.fetch(
                "SELECT * FROM opt_outs WHERE tracking_number = ANY($1::text[])", numbers
            ):
                opted_out.setdefault(tn, set()).add((channel, address))
            rows: list[tuple[Any, ...]] = []
            for occurrence in occurrences:
                tn = occurrence.tracking_number
                master = masters.get(tn)
                planned = plan(
                    occurrence,
                    decode_package(master) if master else None,
                    subscriptions.get(tn, []),
                    frozenset(opted_out.get(tn, ())),
                )
                rows.extend(planned_row(p, occurrence.key, now) for p in planned)
            if rows:
                await conn.execute(_INSERT_DELIVERIES, *[list(c) for c in zip(*rows, strict=True)])
            keys = list(zip(*(o.key for o in occurrences), strict=True))
            await conn.execute(
                "UPDATE milestones AS m SET dispatched = true"
                " FROM unnest($1::text[], $2::text[], $3::int[]) AS k(t, s, n)"
                " WHERE m.tracking_number = k.t AND m.milestone = k.s AND m.number = k.n",
                *[list(k) for k in keys],
            )
            return len(occurrences)

    async def claim(self, limit: int, now: int, lease: int) -> list[Outgoing]:
        rows = await self._pool.fetch(_CLAIM, now, limit, now + lease)
        return [outgoing_from_row(r) for r in rows]

    async def record(self, attempts: Sequence[Attempt]) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.executemany(
                "INSERT INTO delivery_attempts VALUES ($1, $2, $3, $4, $5, $6, $7)",
                [
                    (a.delivery_id, a.at, a.state, a.latency_ms, a.provider,
                     a.provider_message_id, a.error)
                    for a in attempts
                ],
            )  # fmt: skip
            for a in attempts:
                await conn.execute(_RECORD[a.state], *_record_params(a))

    async def deliveries(self, tracking_number: str) -> list[DeliveryRecord]:
        rows = await self._pool.fetch(
            "SELECT event_id, tracking_number, milestone, number, channel, address, state,"
            " attempts, provider, provider_message_id, last_error, receipt, created_at, sent_at,"
            " latency_ms FROM deliveries WHERE tracking_number = $1 ORDER BY delivery_id",
            tracking_number,
        )
        return [DeliveryRecord(*row) for row in rows]

    async def receipt(self, provider: str, message_id: str, status: str) -> bool:
        result = await self._pool.execute(
            "UPDATE deliveries SET receipt = $3 WHERE provider = $1 AND provider_message_id = $2",
            provider,
            message_id,
            status,
        )
        return result != "UPDATE 0"


def _record_params(a: Attempt) -> tuple[Any, ...]:
    if a.state == "sent":
        return (a.delivery_id, a.at, a.provider, a.provider_message_id, a.latency_ms)
    if a.state == "retry":
        return (a.delivery_id, a.next_attempt_at, a.provider, a.error)
    return (a.delivery_id, a.provider, a.error)


def _subscription_from_row(row: Any) -> Subscription:
    sid, tn, channel, address, milestones, source, secret, _ = row
    return Subscription(sid, tn, channel, address, frozenset(milestones), source, secret)
