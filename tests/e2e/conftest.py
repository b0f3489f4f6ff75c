"""Fixtures for the end-to-end tests: real server processes, each test with its own data folder
and port; whatever is still running is killed at teardown, and the server log is attached to the
report of any failed test."""

from __future__ import annotations

import os
import random
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from .harness import Server, ServerFactory

_SERVERS = pytest.StashKey[list[Server]]()


@pytest.fixture
def server_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerFactory]:
    """`make(name="server", **options)` -> a Server (not started) over tmp_path/<name>, logging
    to tmp_path/<name>.log; options go to Server (command, env). Reuse the returned object to
    restart on the same folder and port."""
    servers = request.node.stash.setdefault(_SERVERS, [])

    def make(name: str = "server", **options: Any) -> Server:
        server = Server(tmp_path / name, tmp_path / f"{name}.log", **options)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def rng() -> random.Random:
    """Seeded randomness: E2E_SEED=<n> replays a failing run; the seed is printed either way."""
    seed = int(os.environ.get("E2E_SEED") or random.SystemRandom().randrange(2**32))
    print(f"E2E_SEED={seed}")
    return random.Random(seed)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        for server in item.stash.get(_SERVERS, []):
            report.sections.append(
                (f"server log {server.log_path} (last 200 lines)", server.log_tail())
            )
    return report
