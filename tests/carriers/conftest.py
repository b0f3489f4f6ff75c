"""Fixtures for the carrier tests: pairs of our server and a fake carrier, stopped at teardown."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.carriers.harness import Pair, start_pair

PairFactory = Callable[..., Pair]


@pytest.fixture
def pairs(tmp_path: Path) -> Iterator[PairFactory]:
    """`make(carrier, mode, **options)` -> a started Pair; every one is stopped at teardown."""
    started: list[Pair] = []

    def make(carrier: str, mode: str, **options: Any) -> Pair:
        pair = start_pair(tmp_path, carrier, mode, **options)
        started.append(pair)
        return pair

    yield make
    for pair in started:
        pair.app.stop()
        pair.fake.stop()
