"""Redis for the contract and integration suites: the machine's server under a key prefix of the
test's own, or a private redis-server process that a test may kill, freeze and restart."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from redis.asyncio import Redis

from parcelstream.storage.redis import RedisDocuments

DEFAULT_TEST_URL = "redis://127.0.0.1:6379/0"
_START_SECONDS = 5.0


def shared_redis_url() -> str:
    return os.environ.get("PARCELSTREAM_TEST_REDIS_URL", DEFAULT_TEST_URL)


@asynccontextmanager
async def redis_documents(tmp_path: Path) -> AsyncIterator[RedisDocuments]:
    """A sink on the shared server; its keys live under a fresh prefix, deleted at the end."""
    del tmp_path  # the common back-end signature; Redis keeps nothing on disk for us
    url = shared_redis_url()
    prefix = f"ps-test:{uuid.uuid4().hex}:"
    admin = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    try:
        await _require(admin, url)
        documents = RedisDocuments(url, prefix=prefix)
        try:
            yield documents
        finally:
            await documents.close()
            await delete_prefix(admin, prefix)
    finally:
        await admin.aclose()


async def delete_prefix(client: Redis, prefix: str) -> None:
    """SCAN + DEL one batch at a time: never FLUSHDB, other tests share the server."""
    batch: list[bytes] = []
    async for key in client.scan_iter(match=f"{prefix}*", count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            await client.delete(*batch)
            batch.clear()
    if batch:
        await client.delete(*batch)


async def _require(client: Redis, url: str) -> None:
    try:
        await client.ping()
        return
    except Exception as error:
        problem = f"{type(error).__name__}: {error}"
    # Never skip: a suite that silently skips its back end is a gate that cannot fail.
    pytest.fail(
        f"Redis at {_without_password(url)} is unreachable ({problem}); start it or set "
        "PARCELSTREAM_TEST_REDIS_URL",
        pytrace=False,
    )


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))


class RedisServer:
    """A private redis-server on a free local port, without persistence: a restart comes back
    empty, as a Redis that lost its data would."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        """Start (or restart, on the same port) and wait until it answers PING."""
        if self._process is not None:
            raise RuntimeError("redis-server is already running")
        self._folder.mkdir(parents=True, exist_ok=True)
        self._process = await asyncio.create_subprocess_exec(
            "redis-server",
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self._folder),
            "--logfile", str(self._folder / "redis.log"),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        await self._wait_ready()

    async def kill(self) -> None:
        """SIGKILL: the server vanishes mid-conversation, as in a crash."""
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.kill()  # SIGKILL ends a stopped (frozen) process too
        await asyncio.wait_for(process.wait(), _START_SECONDS)

    def freeze(self) -> None:
        """SIGSTOP: connections still open, replies never come (a hung or partitioned server)."""
        self._running().send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self._running().send_signal(signal.SIGCONT)

    def _running(self) -> asyncio.subprocess.Process:
        if self._process is None:
            raise RuntimeError("redis-server is not running")
        return self._process

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + _START_SECONDS
        while time.monotonic() < deadline:
            if self._running().returncode is not None:
                break
            if await _answers_ping(self.port):
                return
            await asyncio.sleep(0.02)
        log_tail = _tail(self._folder / "redis.log")
        await self.kill()
        pytest.fail(f"redis-server on port {self.port} did not start:\n{log_tail}", pytrace=False)


@asynccontextmanager
async def private_redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    """A started private server, always killed at the end whatever the test did to it."""
    server = RedisServer(tmp_path / "redis")
    try:
        await server.start()
        yield server
    finally:
        await server.kill()


async def _answers_ping(port: int) -> bool:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    try:
        writer.write(b"PING\r\n")
        await writer.drain()
        reply = await asyncio.wait_for(reader.readline(), 1.0)
        return reply == b"+PONG\r\n"
    except (OSError, TimeoutError):
        return False
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
