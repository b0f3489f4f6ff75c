"""Request budgets for carrier APIs: a token bucket, a daily cap, concurrency, pauses after a
429, and exponential backoff with jitter."""

from __future__ import annotations

import asyncio
import time

import pytest

from parcelstream.carriers.budget import DailyCapReached, Limits, RequestBudget, backoff


def test_backoff_doubles_within_jitter_and_caps() -> None:
    assert backoff(1, 2.0, 600, rng=lambda: 0.0) == 1.0
    assert backoff(1, 2.0, 600, rng=lambda: 1.0) == 2.0
    assert backoff(4, 2.0, 600, rng=lambda: 1.0) == 16.0
    assert backoff(20, 2.0, 600, rng=lambda: 1.0) == 600.0
    assert 300.0 <= backoff(20, 2.0, 600) <= 600.0


async def test_the_bucket_allows_a_burst_then_the_rate() -> None:
    budget = RequestBudget(Limits(rate=10.0, burst=3, daily=None, concurrency=10))
    started = time.monotonic()
    for _ in range(3):
        async with budget.slot():
            pass
    assert time.monotonic() - started < 0.2
    for _ in range(4):
        async with budget.slot():
            pass
    assert time.monotonic() - started >= 4 / 10 - 0.02


async def test_the_daily_cap_refuses_once_spent() -> None:
    day = [1]
    budget = RequestBudget(Limits(rate=1000, burst=10, daily=2, concurrency=1), day=lambda: day[0])
    for _ in range(2):
        async with budget.slot():
            pass
    with pytest.raises(DailyCapReached):
        async with budget.slot():
            pass
    day[0] = 2  # a new UTC day
    async with budget.slot():
        pass


async def test_concurrency_is_limited() -> None:
    budget = RequestBudget(Limits(rate=1000, burst=100, daily=None, concurrency=2))
    inside = peak = 0

    async def call() -> None:
        nonlocal inside, peak
        async with budget.slot():
            inside += 1
            peak = max(peak, inside)
            await asyncio.sleep(0.02)
            inside -= 1

    await asyncio.gather(*(call() for _ in range(8)))
    assert peak == 2


async def test_a_pause_holds_every_call_back() -> None:
    budget = RequestBudget(Limits(rate=1000, burst=100, daily=None, concurrency=4))
    budget.pause(0.2)
    started = time.monotonic()
    async with budget.slot():
        pass
    assert time.monotonic() - started >= 0.19
