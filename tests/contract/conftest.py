"""Each port's contract suite runs against every adapter; issue-3 back ends join the params."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from parcelstream.storage.sqlite.log import SqliteEventLog
from parcelstream.storage.sqlite.state import SqliteState

LogFactory = Callable[[], SqliteEventLog]


@pytest.fixture(params=["sqlite"])
async def open_log(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[LogFactory]:
    """A factory, so a test can reopen the same log as a restarted process would."""
    opened: list[SqliteEventLog] = []

    def factory() -> SqliteEventLog:
        event_log = SqliteEventLog(tmp_path / "log.db")
        opened.append(event_log)
        return event_log

    yield factory
    for event_log in opened:
        await event_log.close()


@pytest.fixture(params=["sqlite"])
async def state(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqliteState]:
    store = SqliteState(tmp_path / "state.db", cache_size=100)
    yield store
    await store.close()
