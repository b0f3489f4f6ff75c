"""What the long-running and one-shot commands run, apart from the HTTP server itself."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable

import asyncpg

from parcelstream.api.app import start_eta, start_notifier, start_pipeline
from parcelstream.settings import Settings
from parcelstream.storage.postgres.migrate import migrate
from parcelstream.storage.postgres.state import parse_url
from parcelstream.wiring import Backends, open_backends

log = logging.getLogger(__name__)


async def run_processor(settings: Settings) -> None:
    """Consume the event log until SIGTERM or SIGINT; the batch in hand is finished first."""
    await _run_until_signalled(settings, "processor", start_pipeline)


async def run_notifier(settings: Settings) -> None:
    """Send milestone notifications until SIGTERM or SIGINT; run any number at once."""
    await _run_until_signalled(settings, "notifier", start_notifier)


async def run_eta(settings: Settings) -> None:
    """Compute estimated deliveries until SIGTERM or SIGINT; run any number at once."""
    await _run_until_signalled(settings, "eta", start_eta)


Starter = Callable[[Settings, Backends, asyncio.Event], list[asyncio.Task[None]]]


async def _run_until_signalled(settings: Settings, name: str, start: Starter) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(stop_signal, stop.set)
    backends = await open_backends(settings)
    try:
        jobs = start(settings, backends, stop)
        log.info("%s running: %s", name, backends.description)
        await stop.wait()
        await asyncio.gather(*jobs, return_exceptions=True)
    finally:
        await backends.close()
    log.info("%s stopped cleanly", name)


async def run_migrations(settings: Settings) -> list[str]:
    if not settings.database_url:
        raise ValueError("set PARCELSTREAM_DATABASE_URL: the embedded back end migrates itself")
    dsn, _ = parse_url(settings.database_url)
    conn = await asyncpg.connect(dsn)
    try:
        return await migrate(conn)
    finally:
        await conn.close()


async def rebuild_read_model(settings: Settings, batch: int = 1000) -> int:
    """Copy every document from PostgreSQL into Redis (version-guarded, safe while running)."""
    from parcelstream.storage.postgres.state import PostgresState
    from parcelstream.storage.read_through import rebuild
    from parcelstream.storage.redis import RedisDocuments

    if not (settings.database_url and settings.redis_url):
        raise ValueError("set PARCELSTREAM_DATABASE_URL and PARCELSTREAM_REDIS_URL")
    redis = RedisDocuments.from_url(settings.redis_url)
    postgres = await PostgresState.connect(settings.database_url)
    try:
        return await rebuild(postgres, redis, batch)
    finally:
        with contextlib.suppress(Exception):
            await postgres.close()
        await redis.close()
