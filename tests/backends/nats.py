"""NATS JetStream for the tests: each test gets its own stream on the machine's server, deleted
after (with its dead-letter stream). An unreachable server fails the test; it never skips."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from nats.aio.client import Client
from nats.js.errors import NotFoundError

from parcelstream.storage.nats import NatsEventLog
from parcelstream.storage.ports import EventLog

SERVER_URL = os.environ.get("PARCELSTREAM_TEST_NATS_URL", "nats://127.0.0.1:4222")


def stream_url(stream: str, base: str = SERVER_URL) -> str:
    return f"{base}{'&' if '?' in base else '?'}stream={stream}"


async def _admin() -> Client:
    """A connection that fails at once instead of retrying, checked to have JetStream."""
    nc = Client()

    async def quiet(exc: Exception) -> None:
        pass

    try:
        await nc.connect(
            SERVER_URL.split("?")[0], allow_reconnect=False, connect_timeout=3, error_cb=quiet
        )
        await nc.jetstream(timeout=3).account_info()
    except Exception as exc:
        await nc.close()
        pytest.fail(
            f"NATS with JetStream is needed at {SERVER_URL} (PARCELSTREAM_TEST_NATS_URL): {exc!r}"
        )
    return nc


@asynccontextmanager
async def nats_logs(tmp_path: Path) -> AsyncIterator[Callable[[], EventLog]]:
    """A factory of logs on one fresh stream, so a test can reopen it as a restarted process
    would."""
    admin = await _admin()
    stream = f"PSTEST_{uuid.uuid4().hex}"
    opened: list[NatsEventLog] = []

    def factory() -> EventLog:
        event_log = NatsEventLog(stream_url(stream))
        opened.append(event_log)
        return event_log

    try:
        yield factory
    finally:
        for event_log in opened:
            await event_log.close()
        js = admin.jetstream(timeout=5)
        for name in (stream, f"{stream}_DEAD"):
            with contextlib.suppress(NotFoundError):
                await js.delete_stream(name)
        await admin.close()
