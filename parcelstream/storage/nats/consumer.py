"""The durable pull consumer: fetching records, acknowledging them, parking the ones that cannot be
processed, and handing back the unacknowledged ones on close."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import AckPolicy, ConsumerConfig, Header

from parcelstream.storage.nats.options import NatsLogError
from parcelstream.storage.nats.replies import TIMEOUT, is_duplicate, raise_on_status
from parcelstream.storage.ports import Delivery

if TYPE_CHECKING:
    from parcelstream.storage.nats.log import Connection, NatsEventLog

_MAX_ACK_PENDING = 20_000


@dataclass
class _Pull:
    """One pull request: its status replies come to `reply`, its records to the consumer inbox."""

    reply: str
    wanted: int
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    status: str | None = None


class NatsLogConsumer:
    def __init__(self, event_log: NatsEventLog, name: str) -> None:
        self._log = event_log
        self._name = name
        self._options = event_log.options
        self._held: dict[int, Msg] = {}
        """Fetched, not yet acknowledged: the message to answer, by stream sequence."""
        self._arrived: list[Msg] = []
        self._pull: _Pull | None = None
        self._pulls = 0
        self._inbox = ""
        self._sub: Subscription | None = None
        self._consumer_ready = False
        self._fetching = asyncio.Lock()
        self._closed = False

    async def fetch(self, max_records: int, max_wait: float) -> list[Delivery]:
        if self._closed:
            raise RuntimeError("consumer is closed")
        async with self._fetching:  # one pull in flight per consumer: replies carry no owner
            msgs = await self._request(max_records, expires=None)
            if not msgs and max_wait > 0.001:
                # Wait for one record only: a request for many would hold them until it is full.
                msgs = await self._request(1, expires=max_wait)
                if msgs and max_records > 1:
                    # The record in hand is worth returning; a failure shows on the next fetch.
                    with contextlib.suppress(Exception):
                        msgs += await self._request(max_records - 1, expires=None)
        deliveries = []
        for msg in msgs:
            position = msg.metadata.sequence.stream
            self._held[position] = msg
            deliveries.append(Delivery(position, msg.data))
        deliveries.sort(key=lambda d: d.position)
        return deliveries

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        held = [
            (d.position, self._held[d.position]) for d in deliveries if d.position in self._held
        ]
        if not held:
            return
        conn = await self._log._connection()
        replies = await conn.replies.send_all([(msg.reply, b"+ACK", None) for _, msg in held])
        raise_on_status(replies, "ack")
        for position, _ in held:
            self._held.pop(position, None)

    async def dead_letter(self, delivery: Delivery, reason: str) -> None:
        conn = await self._log._dead_letter_connection()
        headers = {
            "Nats-Msg-Id": f"{self._name}:{delivery.position}",
            "Parcelstream-Reason": " ".join(reason.splitlines()),
            "Parcelstream-Consumer": self._name,
            "Parcelstream-Position": str(delivery.position),
        }
        subject = f"{self._options.dead_stream}.{self._name}"
        [reply] = await conn.replies.send_all([(subject, delivery.payload, headers)])
        is_duplicate(reply)
        msg = self._held.pop(delivery.position, None)
        if msg is not None:
            # Only once the copy is stored: a crash in between delivers the record again.
            raise_on_status(await conn.replies.send_all([(msg.reply, b"+TERM", None)]), "term")

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._log._forget(self)
        unanswered = sorted(
            [*self._held.values(), *self._arrived], key=lambda m: m.metadata.sequence.stream
        )
        self._held.clear()
        self._arrived.clear()
        conn = self._log._open_connection()
        if conn is None:
            return
        # Handing them back now spares the next process the ack wait; a crashed one cannot.
        with contextlib.suppress(Exception):
            await conn.replies.send_all([(msg.reply, b"-NAK", None) for msg in unanswered])
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()

    async def _request(self, batch: int, *, expires: float | None) -> list[Msg]:
        """Records from one pull: those available now (`expires=None`), or the first to arrive
        within `expires` seconds."""
        if len(self._arrived) < batch:
            conn = await self._ready()
            self._pulls += 1
            pull = _Pull(f"{self._inbox}{self._pulls}", batch)
            body: dict[str, object] = {"batch": batch - len(self._arrived)}
            if expires is None:
                body["no_wait"] = True
            else:
                body["expires"] = int(expires * 1e9)
            subject = f"$JS.API.CONSUMER.MSG.NEXT.{self._options.stream}.{self._name}"
            self._pull = pull
            try:
                await conn.nc.publish(subject, json.dumps(body).encode(), reply=pull.reply)
                # The server ends every pull with a status or the full batch; this is a backstop.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(pull.finished.wait(), (expires or 0) + TIMEOUT)
            finally:
                self._pull = None
            if not self._arrived:
                self._check_end(pull)
        taken, self._arrived = self._arrived[:batch], self._arrived[batch:]
        return taken

    async def _ready(self) -> Connection:
        """The durable consumer exists on the server and our inbox is subscribed."""
        conn = await self._log._connection()
        if not self._consumer_ready:
            await conn.js.add_consumer(
                self._options.stream,
                ConsumerConfig(
                    name=self._name,
                    durable_name=self._name,
                    filter_subject=self._options.subject,
                    ack_policy=AckPolicy.EXPLICIT,
                    ack_wait=self._options.ack_wait,
                    max_deliver=-1,
                    max_ack_pending=_MAX_ACK_PENDING,
                ),
            )
            self._consumer_ready = True
        if self._sub is None:
            self._inbox = f"{conn.nc.new_inbox()}."
            self._sub = await conn.nc.subscribe(f"{self._inbox}*", cb=self._on_message)
        return conn

    def _check_end(self, pull: _Pull) -> None:
        if pull.status is None:
            raise NatsLogError(f"consumer {self._name}: the server did not answer a pull")
        if not pull.status.startswith(("404", "408")):
            # 409 "Consumer Deleted", 503 no responders: set the consumer up again next time.
            self._consumer_ready = False
            raise NatsLogError(f"consumer {self._name}: {pull.status}")

    async def _on_message(self, msg: Msg) -> None:
        pull = self._pull
        if not msg.subject.startswith(self._inbox):
            # A record. It may answer an earlier pull that timed out here: keep it all the same.
            self._arrived.append(msg)
            if pull is not None and len(self._arrived) >= pull.wanted:
                pull.finished.set()
            return
        headers = msg.headers or {}
        status = headers.get("Status", "")
        if pull is None or msg.subject != pull.reply or status == "100":  # stale, or heartbeat
            return
        pull.status = f"{status} {headers.get(Header.DESCRIPTION, '')}".strip()
        pull.finished.set()
