"""The embedded back end for the contract suites: files in a temporary folder."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from parcelstream.storage.ports import EventLog
from parcelstream.storage.sqlite.log import SqliteEventLog
from parcelstream.storage.sqlite.notifications import SqliteNotifications
from parcelstream.storage.sqlite.state import SqliteState


@asynccontextmanager
async def sqlite_logs(tmp_path: Path) -> AsyncIterator[Callable[[], EventLog]]:
    """A factory of logs over one file, so a test can reopen it as a restarted process would."""
    opened: list[SqliteEventLog] = []

    def factory() -> EventLog:
        event_log = SqliteEventLog(tmp_path / "log.db")
        opened.append(event_log)
        return event_log

    try:
        yield factory
    finally:
        for event_log in opened:
            await event_log.close()


@asynccontextmanager
async def sqlite_state(tmp_path: Path) -> AsyncIterator[SqliteState]:
    store = SqliteState(tmp_path / "state.db", cache_size=100)
    try:
        yield store
    finally:
        await store.close()


@asynccontextmanager
async def sqlite_notifications(
    tmp_path: Path,
) -> AsyncIterator[tuple[SqliteState, SqliteNotifications]]:
    """The ledger (which writes the milestone outbox) and the notification store, one file."""
    async with sqlite_state(tmp_path) as state:
        store = SqliteNotifications(tmp_path / "state.db")
        try:
            yield state, store
        finally:
            await store.close()
