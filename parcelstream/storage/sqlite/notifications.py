"""Embedded notification storage, in the same `state.db` as the ledger (whose transaction writes
the milestone outbox): subscriptions, opt-outs, deliveries and every attempt.

Guarantees: dispatching an occurrence and planning its deliveries is one transaction, and a
delivery's event id is unique, so an occurrence is never planned twice. A claimed delivery is
hidden for the lease, so a crashed notifier's claim is retried once the lease runs out.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

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
from parcelstream.storage.sqlite.connection import WriterThread

_SCHEMA = """
CREATE TABLE IF NOT EXISTS subscriptions (
    subscription_id TEXT PRIMARY KEY,
    tracking_number TEXT NOT NULL,
    channel TEXT NOT NULL,
    address TEXT NOT NULL,
    milestones TEXT NOT NULL,
    source TEXT NOT NULL,
    secret TEXT,
    removed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS subscriptions_by_package ON subscriptions (tracking_number);
CREATE TABLE IF NOT EXISTS opt_outs (
    tracking_number TEXT NOT NULL,
    channel TEXT NOT NULL,
    address TEXT NOT NULL,
    PRIMARY KEY (tracking_number, channel, address)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS deliveries (
    delivery_id INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    tracking_number TEXT NOT NULL,
    milestone TEXT NOT NULL,
    number INTEGER NOT NULL,
    subscription_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    address TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    sent_at INTEGER,
    provider TEXT,
    provider_message_id TEXT,
    last_error TEXT,
    receipt TEXT,
    latency_ms REAL
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS deliveries_by_package ON deliveries (tracking_number);
CREATE INDEX IF NOT EXISTS deliveries_by_provider_id ON deliveries (provider, provider_message_id);
CREATE TABLE IF NOT EXISTS delivery_attempts (
    delivery_id INTEGER NOT NULL,
    at INTEGER NOT NULL,
    state TEXT NOT NULL,
    latency_ms REAL NOT NULL,
    provider TEXT,
    provider_message_id TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS attempts_by_delivery ON delivery_attempts (delivery_id);
"""

_M_COLUMNS = ", ".join(f"m.{c.strip()}" for c in MILESTONE_COLUMNS.split(","))
_CLAIM = """
UPDATE deliveries SET next_attempt_at = :until
WHERE delivery_id IN (
    SELECT delivery_id FROM deliveries WHERE state = 'pending' AND next_attempt_at <= :now
    ORDER BY next_attempt_at LIMIT :limit
)
RETURNING delivery_id
"""
_CLAIMED = f"""
SELECT d.delivery_id, d.event_id, d.subscription_id, d.channel, d.address, d.attempts,
       d.created_at, {_M_COLUMNS}
FROM deliveries AS d JOIN milestones AS m
  ON m.tracking_number = d.tracking_number AND m.milestone = d.milestone AND m.number = d.number
WHERE d.delivery_id = ?
"""


class SqliteNotifications:
    """Implements SubscriptionStore and NotificationQueue over the embedded state file."""

    def __init__(self, path: Path) -> None:
        self._writer = WriterThread(path, _SCHEMA, "notify-writer")

    # -- SubscriptionStore -----------------------------------------------------------------

    async def subscribe(self, subscription: Subscription) -> None:
        await self._writer.run(self._subscribe, subscription)

    def _subscribe(self, s: Subscription) -> None:
        with self._writer.connection() as conn:
            conn.execute(
                "INSERT INTO subscriptions VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
                (
                    s.subscription_id,
                    s.tracking_number,
                    s.channel,
                    s.address,
                    " ".join(sorted(s.milestones)),
                    s.source,
                    s.secret,
                ),
            )

    async def unsubscribe(self, subscription_id: str) -> Subscription | None:
        found: Subscription | None = await self._writer.run(self._unsubscribe, subscription_id)
        return found

    def _unsubscribe(self, subscription_id: str) -> Subscription | None:
        with self._writer.connection() as conn:
            found = _subscription(conn, subscription_id)
            if found is None:
                return None
            conn.execute(
                "UPDATE subscriptions SET removed = 1 WHERE subscription_id = ?", (subscription_id,)
            )
            return found

    async def opt_out(self, tracking_number: str, channel: str, address: str) -> None:
        await self._writer.run(self._opt_out, tracking_number, channel, address)

    def _opt_out(self, tracking_number: str, channel: str, address: str) -> None:
        with self._writer.connection() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO opt_outs VALUES (?, ?, ?)",
                (tracking_number, channel, address),
            )

    async def subscription(self, subscription_id: str) -> Subscription | None:
        found: Subscription | None = await self._writer.run(
            lambda: _subscription(self._writer.connection(), subscription_id)
        )
        return found

    # -- NotificationQueue -----------------------------------------------------------------

    async def dispatch(self, limit: int, plan: Planner, now: int) -> int:
        dispatched: int = await self._writer.run(self._dispatch, limit, plan, now)
        return dispatched

    def _dispatch(self, limit: int, plan: Planner, now: int) -> int:
        with self._writer.connection() as conn:
            rows = conn.execute(
                f"SELECT {MILESTONE_COLUMNS} FROM milestones WHERE dispatched = 0"
                " ORDER BY recorded_at LIMIT ?",
                (limit,),
            ).fetchall()
            for row in rows:
                occurrence = milestone_from_row(row)
                tn = occurrence.tracking_number
                master = conn.execute(
                    "SELECT master FROM packages WHERE tracking_number = ?", (tn,)
                ).fetchone()
                subscriptions = [
                    _subscription_from_row(r)
                    for r in conn.execute(
                        "SELECT * FROM subscriptions WHERE tracking_number = ? AND removed = 0",
                        (tn,),
                    )
                ]
                opted_out = frozenset(
                    (r[0], r[1])
                    for r in conn.execute(
                        "SELECT channel, address FROM opt_outs WHERE tracking_number = ?", (tn,)
                    )
                )
                package = decode_package(master[0]) if master else None
                planned = plan(occurrence, package, subscriptions, opted_out)
                conn.executemany(
                    "INSERT OR IGNORE INTO deliveries (event_id, tracking_number, milestone,"
                    " number, subscription_id, channel, address, next_attempt_at, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [planned_row(p, occurrence.key, now) for p in planned],
                )
                conn.execute(
                    "UPDATE milestones SET dispatched = 1"
                    " WHERE tracking_number = ? AND milestone = ? AND number = ?",
                    occurrence.key,
                )
            return len(rows)

    async def claim(self, limit: int, now: int, lease: int) -> list[Outgoing]:
        claimed: list[Outgoing] = await self._writer.run(self._claim, limit, now, lease)
        return claimed

    def _claim(self, limit: int, now: int, lease: int) -> list[Outgoing]:
        with self._writer.connection() as conn:
            ids = [
                r[0]
                for r in conn.execute(_CLAIM, {"until": now + lease, "now": now, "limit": limit})
            ]
            return [outgoing_from_row(conn.execute(_CLAIMED, (i,)).fetchone()) for i in sorted(ids)]

    async def record(self, attempts: Sequence[Attempt]) -> None:
        await self._writer.run(self._record, attempts)

    def _record(self, attempts: Sequence[Attempt]) -> None:
        with self._writer.connection() as conn:
            for a in attempts:
                conn.execute(
                    "INSERT INTO delivery_attempts VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (a.delivery_id, a.at, a.state, a.latency_ms, a.provider,
                     a.provider_message_id, a.error),
                )  # fmt: skip
                conn.execute(_RECORD[a.state], _record_params(a))

    async def deliveries(self, tracking_number: str) -> list[DeliveryRecord]:
        records: list[DeliveryRecord] = await self._writer.run(self._deliveries, tracking_number)
        return records

    def _deliveries(self, tracking_number: str) -> list[DeliveryRecord]:
        rows = self._writer.connection().execute(
            "SELECT event_id, tracking_number, milestone, number, channel, address, state,"
            " attempts, provider, provider_message_id, last_error, receipt, created_at, sent_at,"
            " latency_ms FROM deliveries WHERE tracking_number = ? ORDER BY delivery_id",
            (tracking_number,),
        )
        return [DeliveryRecord(*row) for row in rows]

    async def receipt(self, provider: str, message_id: str, status: str) -> bool:
        updated: bool = await self._writer.run(self._receipt, provider, message_id, status)
        return updated

    def _receipt(self, provider: str, message_id: str, status: str) -> bool:
        with self._writer.connection() as conn:
            cur = conn.execute(
                "UPDATE deliveries SET receipt = ? WHERE provider = ? AND provider_message_id = ?",
                (status, provider, message_id),
            )
            return cur.rowcount > 0

    async def close(self) -> None:
        await self._writer.close()


_RECORD = {
    "sent": "UPDATE deliveries SET state = 'sent', attempts = attempts + 1, sent_at = :at,"
    " provider = :provider, provider_message_id = :message_id, latency_ms = :latency,"
    " last_error = NULL WHERE delivery_id = :id",
    "retry": "UPDATE deliveries SET attempts = attempts + 1, next_attempt_at = :next,"
    " provider = :provider, last_error = :error WHERE delivery_id = :id",
    "dead": "UPDATE deliveries SET state = 'dead', attempts = attempts + 1, provider = :provider,"
    " last_error = :error WHERE delivery_id = :id",
}


def _record_params(a: Attempt) -> dict[str, Any]:
    return {
        "id": a.delivery_id,
        "at": a.at,
        "provider": a.provider,
        "message_id": a.provider_message_id,
        "latency": a.latency_ms,
        "error": a.error,
        "next": a.next_attempt_at,
    }


def _subscription(conn: sqlite3.Connection, subscription_id: str) -> Subscription | None:
    row = conn.execute(
        "SELECT * FROM subscriptions WHERE subscription_id = ? AND removed = 0",
        (subscription_id,),
    ).fetchone()
    return _subscription_from_row(row) if row else None


def _subscription_from_row(row: Any) -> Subscription:
    sid, tn, channel, address, milestones, source, secret, _ = row
    return Subscription(sid, tn, channel, address, frozenset(milestones.split()), source, secret)
