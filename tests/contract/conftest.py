"""Each port's contract suite runs against every adapter; each back end's setup lives in
tests/backends/ and every test gets its own file, database, key prefix or stream."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Protocol

import pytest

from parcelstream.storage.ports import (
    EventLog,
    KeyStore,
    NotificationQueue,
    PackageLedger,
    ReadModel,
    SubscriptionStore,
)
from tests.backends.postgres import postgres_notifications, postgres_state
from tests.backends.sqlite import sqlite_logs, sqlite_notifications, sqlite_state

LogFactory = Callable[[], EventLog]


class StateStore(PackageLedger, ReadModel, KeyStore, Protocol):
    """What the state adapters implement together."""


def _log_backends() -> dict[str, Callable[[Path], AbstractAsyncContextManager[LogFactory]]]:
    from tests.backends.nats import nats_logs

    backends: dict[str, Callable[[Path], AbstractAsyncContextManager[LogFactory]]] = {
        "sqlite": sqlite_logs,
        "nats": nats_logs,
    }
    return backends


def _state_backends() -> dict[str, Callable[[Path], AbstractAsyncContextManager[Any]]]:
    backends: dict[str, Callable[[Path], AbstractAsyncContextManager[Any]]] = {
        "sqlite": sqlite_state,
        "postgres": postgres_state,
    }
    return backends


def _notification_backends() -> dict[str, Callable[[Path], AbstractAsyncContextManager[Any]]]:
    backends: dict[str, Callable[[Path], AbstractAsyncContextManager[Any]]] = {
        "sqlite": sqlite_notifications,
        "postgres": postgres_notifications,
    }
    return backends


class NotificationStore(SubscriptionStore, NotificationQueue, Protocol):
    """What the notification adapters implement together."""


@pytest.fixture(params=sorted(_notification_backends()))
async def notifications(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[StateStore, NotificationStore]]:
    """(the ledger that writes the milestone outbox, the notification store beside it)"""
    async with _notification_backends()[request.param](tmp_path) as pair:
        yield pair


@pytest.fixture(params=sorted(_log_backends()))
async def open_log(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[LogFactory]:
    async with _log_backends()[request.param](tmp_path) as factory:
        yield factory


@pytest.fixture(params=sorted(_state_backends()))
async def state(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StateStore]:
    async with _state_backends()[request.param](tmp_path) as store:
        yield store
