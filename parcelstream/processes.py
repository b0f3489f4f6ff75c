"""What the long-running and one-shot commands run, apart from the HTTP server itself."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from pathlib import Path

import asyncpg

from parcelstream.api.app import (
    start_drop_watcher,
    start_eta,
    start_notifier,
    start_pipeline,
    start_poller,
    wall_clock_us,
)
from parcelstream.settings import Settings
from parcelstream.storage.postgres.migrate import migrate
from parcelstream.storage.postgres.state import parse_url
from parcelstream.supervision import stop_when_parent_exits
from parcelstream.wiring import Backends, open_backends

log = logging.getLogger(__name__)


async def run_processor(settings: Settings) -> None:
    """Consume the event log until SIGTERM or SIGINT; the batch in hand is finished first."""
    await _run_until_signalled(settings, "processor", start_pipeline)


async def run_notifier(settings: Settings, *, exit_with_parent: bool = False) -> None:
    """Send milestone notifications until SIGTERM or SIGINT; run any number at once."""
    await _run_until_signalled(settings, "notifier", start_notifier, exit_with_parent)


async def run_drop_watcher(settings: Settings) -> None:
    """Watch the CSV drop folder or bucket until SIGTERM or SIGINT; run any number at once."""
    await _run_until_signalled(settings, "drop watcher", start_drop_watcher)


async def ingest_file(settings: Settings, path: Path) -> dict[str, object]:
    """`parcelstream ingest FILE.csv`: the file onto the configured event log, through the same
    code as the drop watcher; the rejects go next to it as FILE.csv.rejects.csv. Raises OSError
    when the file cannot be opened."""
    from parcelstream.ingest.csv_drops import file_chunks, ingest_csv

    size = (await asyncio.to_thread(path.stat)).st_size
    backends = await open_backends(settings)
    try:
        report = await ingest_csv(file_chunks(path), backends.log, clock=wall_clock_us())
    finally:
        await backends.close()
    rejects = path.with_name(path.name + ".rejects.csv")
    if report.rejects_csv:
        await asyncio.to_thread(rejects.write_bytes, report.rejects_csv)
    else:  # one from an earlier run of the same file would mislead
        await asyncio.to_thread(rejects.unlink, missing_ok=True)
    return {
        "file": str(path),
        "size": size,
        "sha256": report.sha256,
        "state": "failed" if report.error else "done",
        "rows": report.rows,
        "accepted": report.accepted,
        "rejected": report.rejected,
        "duplicates": report.duplicates,
        "error": report.error,
        "ignored_columns": report.ignored_columns,
        "rejects_file": str(rejects) if report.rejects_csv else None,
        "rejections_listed": report.rejections_listed,
    }


async def run_poller(settings: Settings) -> None:
    """Poll partner carriers until SIGTERM or SIGINT; run any number at once."""
    from parcelstream.carriers.access import carrier_access

    if not carrier_access(settings):
        raise ValueError(
            "no carrier to poll: set PARCELSTREAM_UPS_API_URL, PARCELSTREAM_FEDEX_API_URL or"
            " PARCELSTREAM_USPS_API_URL"
        )
    await _run_until_signalled(settings, "poller", start_poller)


async def run_eta(settings: Settings) -> None:
    """Compute estimated deliveries until SIGTERM or SIGINT; run any number at once."""
    await _run_until_signalled(settings, "eta", start_eta)


Starter = Callable[[Settings, Backends, asyncio.Event], list[asyncio.Task[None]]]


async def _run_until_signalled(
    settings: Settings, name: str, start: Starter, exit_with_parent: bool = False
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(stop_signal, stop.set)
    if exit_with_parent:
        stop_when_parent_exits(stop)
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
