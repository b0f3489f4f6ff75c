"""The event log itself: the connection it opens on first use, and the streams (records and dead
letters) it creates or brings up to date."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from nats.aio.client import Client
from nats.js.api import DiscardPolicy, StorageType, StreamConfig
from nats.js.client import JetStreamContext
from nats.js.errors import BadRequestError, NotFoundError

from parcelstream.storage.nats.consumer import NatsLogConsumer
from parcelstream.storage.nats.options import NatsLogError, NatsLogOptions, describe, parse_url
from parcelstream.storage.nats.replies import TIMEOUT, Replies, Request, is_duplicate
from parcelstream.storage.ports import LogConsumer, LogRecord

log = logging.getLogger(__package__)  # one logger for the adapter: parcelstream.storage.nats

_CONNECT_TIMEOUT = 10.0
_DEAD_DUPLICATE_WINDOW = 120.0


@dataclass
class Connection:
    nc: Client
    js: JetStreamContext
    replies: Replies
    dead_stream_ready: bool = False


class NatsEventLog:
    def __init__(self, url: str) -> None:
        """Checks the URL; nothing connects until the first call (or `connect`)."""
        self.options = parse_url(url)
        self._where = describe(url)
        self._conn: Connection | None = None
        self._opening = asyncio.Lock()
        self._consumers: set[NatsLogConsumer] = set()
        self._closed = False

    @classmethod
    async def connect(cls, url: str) -> NatsEventLog:
        """Connect now and create or update the stream, so a bad URL or server fails at start."""
        event_log = cls(url)
        await event_log._connection()
        return event_log

    async def append(self, records: Sequence[LogRecord]) -> list[bool]:
        if not records:
            return []
        conn = await self._connection()
        flags = [True] * len(records)  # stays True for an id repeated within this call
        sent: list[int] = []
        requests: list[Request] = []
        seen: set[bytes] = set()
        for index, record in enumerate(records):
            headers = None
            if record.dedup_id is not None:
                if record.dedup_id in seen:
                    continue
                seen.add(record.dedup_id)
                headers = {"Nats-Msg-Id": record.dedup_id.hex()}
            sent.append(index)
            requests.append((self.options.subject, record.payload, headers))
        replies = await conn.replies.send_all(requests)
        for index, reply in zip(sent, replies, strict=True):
            flags[index] = is_duplicate(reply)
        return flags

    def consumer(self, name: str) -> LogConsumer:
        consumer = NatsLogConsumer(self, name)
        self._consumers.add(consumer)
        return consumer

    async def ping(self) -> None:
        conn = await self._connection()
        await conn.js.stream_info(self.options.stream)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for consumer in list(self._consumers):
            await consumer.close()
        if self._conn is not None:
            await self._conn.nc.close()

    async def _connection(self) -> Connection:
        """Opened (and the stream set up) by whichever call needs it first."""
        if self._closed:
            raise RuntimeError("event log is closed")
        if self._conn is None:
            async with self._opening:
                if self._conn is None:
                    self._conn = await _open(self.options, self._where)
        return self._conn

    async def _dead_letter_connection(self) -> Connection:
        conn = await self._connection()
        if not conn.dead_stream_ready:
            await _ensure_stream(conn.js, _dead_stream_config(self.options))
            conn.dead_stream_ready = True
        return conn

    def _open_connection(self) -> Connection | None:
        return None if self._conn is None or self._conn.nc.is_closed else self._conn

    def _forget(self, consumer: NatsLogConsumer) -> None:
        self._consumers.discard(consumer)


async def _open(options: NatsLogOptions, where: str) -> Connection:
    nc = Client()

    async def on_error(exc: Exception) -> None:
        log.warning("NATS event log (%s): %r", where, exc)

    async def on_disconnect() -> None:
        if not nc.is_closed:
            log.warning("NATS event log (%s): disconnected, reconnecting", where)

    async def on_reconnect() -> None:
        log.info("NATS event log (%s): reconnected to %s", where, nc.connected_url)

    try:
        try:
            await asyncio.wait_for(
                nc.connect(
                    options.servers,
                    user=options.user,
                    password=options.password,
                    token=options.token,
                    name="parcelstream",
                    max_reconnect_attempts=-1,  # a worker waits for the cluster to come back
                    reconnect_time_wait=1,
                    error_cb=on_error,
                    disconnected_cb=on_disconnect,
                    reconnected_cb=on_reconnect,
                ),
                _CONNECT_TIMEOUT,
            )
        except TimeoutError:
            raise NatsLogError(f"no NATS server answered at {where}") from None
        js = nc.jetstream(timeout=TIMEOUT)
        await _ensure_stream(js, _stream_config(options))
        replies = Replies(nc)
        await replies.start()
    except BaseException:
        await nc.close()
        raise
    return Connection(nc, js, replies)


def _stream_config(options: NatsLogOptions) -> StreamConfig:
    return StreamConfig(
        name=options.stream,
        subjects=[options.subject],
        storage=StorageType.FILE,
        num_replicas=options.replicas,
        duplicate_window=options.duplicate_window,
        max_age=options.max_age_hours * 3600,
        discard=DiscardPolicy.OLD,
    )


def _dead_stream_config(options: NatsLogOptions) -> StreamConfig:
    """Parked records are kept until an operator removes them, like the embedded log's table."""
    return StreamConfig(
        name=options.dead_stream,
        subjects=[f"{options.dead_stream}.>"],
        storage=StorageType.FILE,
        num_replicas=options.replicas,
        duplicate_window=_DEAD_DUPLICATE_WINDOW,
        discard=DiscardPolicy.OLD,
    )


_OWNED_FIELDS = ("subjects", "num_replicas", "duplicate_window", "max_age", "discard")


async def _ensure_stream(js: JetStreamContext, wanted: StreamConfig) -> None:
    """Create the stream, or bring the fields we own up to date; settings an operator added to an
    existing stream (limits, placement) are kept."""
    assert wanted.name is not None
    try:
        current = (await js.stream_info(wanted.name)).config
    except NotFoundError:
        try:
            await js.add_stream(wanted)
            return
        except BadRequestError:  # another process created it meanwhile
            current = (await js.stream_info(wanted.name)).config
    changes = {
        name: getattr(wanted, name)
        for name in _OWNED_FIELDS
        if getattr(current, name) != getattr(wanted, name)
    }
    if changes:
        log.info("updating stream %s: %s", wanted.name, changes)
        await js.update_stream(dataclasses.replace(current, **changes))
