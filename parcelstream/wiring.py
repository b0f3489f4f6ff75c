"""The one place that turns settings into concrete adapters (by URL scheme)."""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from parcelstream.settings import Settings
from parcelstream.storage.ports import EventLog, KeyStore, PackageLedger, ReadModel

log = logging.getLogger(__name__)

Job = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


@dataclass
class Backends:
    log: EventLog
    ledger: PackageLedger
    read_model: ReadModel
    keys: KeyStore
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    maintenance: list[Job] = field(default_factory=list)
    description: str = ""

    async def close(self) -> None:
        for close in reversed(self.closers):
            await close()


_DATABASE_SCHEMES: dict[str, str] = {}
_LOG_SCHEMES: dict[str, str] = {}


def open_backends(settings: Settings) -> Backends:
    _check_scheme("PARCELSTREAM_DATABASE_URL", settings.database_url, _DATABASE_SCHEMES)
    _check_scheme("PARCELSTREAM_LOG_URL", settings.log_url, _LOG_SCHEMES)
    return _embedded(settings)


def _embedded(settings: Settings) -> Backends:
    from parcelstream.storage.sqlite.log import SqliteEventLog
    from parcelstream.storage.sqlite.state import SqliteState

    data = settings.data_dir
    state = SqliteState(data / "state.db", cache_size=settings.document_cache_size)
    event_log = SqliteEventLog(
        data / "log.db", retention_seconds=settings.log_retention_hours * 3600
    )

    async def trim_log(stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                removed = await asyncio.to_thread(event_log.trim)
                if removed:
                    log.info("trimmed %d processed records from the event log", removed)
            except Exception:
                log.exception("trimming the event log failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 600)

    return Backends(
        log=event_log,
        ledger=state,
        read_model=state,
        keys=state,
        closers=[state.close, event_log.close],
        maintenance=[trim_log],
        description=f"embedded (SQLite in {data.resolve()})",
    )


def _check_scheme(setting: str, url: str | None, known: dict[str, str]) -> None:
    if not url:
        return
    scheme = urlsplit(url).scheme
    if scheme in known:
        return
    offered = sorted(known) or ["(none yet: leave it unset for the embedded back end)"]
    guess = difflib.get_close_matches(scheme, list(known), n=1)
    hint = f" Did you mean {guess[0]}://?" if guess else ""
    raise ValueError(
        f"{setting}={mask_password(url)}: unknown scheme {scheme!r}; supported: "
        f"{', '.join(offered)}.{hint}"
    )


def mask_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))
