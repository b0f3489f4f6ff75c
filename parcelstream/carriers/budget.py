"""How hard we may call a carrier: a token bucket (requests per second), a daily cap, a limit on
calls in flight, a pause a 429 asks for, and exponential backoff with jitter."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from parcelstream.retrying import backoff as jittered


class DailyCapReached(Exception):
    """Today's request allowance is spent; polling waits for the next UTC day."""


@dataclass(frozen=True, slots=True)
class Limits:
    rate: float
    """Requests per second, on average."""
    burst: int
    """Requests that may go at once after a quiet spell."""
    daily: int | None
    """Requests per UTC day (None: no cap)."""
    concurrency: int


def backoff(
    attempt: int, base: float, cap: float, rng: Callable[[], float] = random.random
) -> float:
    """Seconds before retry number `attempt` (1, 2, …), jittered so a fleet of pollers does not
    retry in step."""
    return jittered(base, cap, attempt - 1, rng=rng)


class RequestBudget:
    """One carrier's budget, shared by every call this process makes to it."""

    def __init__(
        self,
        limits: Limits,
        *,
        clock: Callable[[], float] = time.monotonic,
        day: Callable[[], int] = lambda: int(time.time() // 86_400),
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._day = day
        self._tokens = float(limits.burst)
        self._filled_at = clock()
        self._paused_until = 0.0
        self._today = day()
        self.spent_today = 0
        self.requests = 0
        self._slots = asyncio.Semaphore(limits.concurrency)
        self._lock = asyncio.Lock()

    def pause(self, seconds: float) -> None:
        """Stop every call for `seconds` (a 429 and its Retry-After: the whole carrier is told
        to slow down, not one request)."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    @property
    def paused_for(self) -> float:
        return max(0.0, self._paused_until - self._clock())

    def exhausted(self) -> bool:
        self._roll_day()
        return self.limits.daily is not None and self.spent_today >= self.limits.daily

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one request's place: waits for rate, pause and concurrency; raises
        DailyCapReached when today's cap is spent."""
        async with self._slots:
            await self._take()
            yield

    async def _take(self) -> None:
        async with self._lock:  # one waiter at a time keeps the bucket's arithmetic simple
            while True:
                if self.exhausted():
                    raise DailyCapReached(f"daily cap of {self.limits.daily} requests reached")
                now = self._clock()
                self._tokens = min(
                    float(self.limits.burst),
                    self._tokens + (now - self._filled_at) * self.limits.rate,
                )
                self._filled_at = now
                wait = self.paused_for
                if wait <= 0 and self._tokens >= 1:
                    self._tokens -= 1
                    self.spent_today += 1
                    self.requests += 1
                    return
                if wait <= 0:
                    wait = (1 - self._tokens) / self.limits.rate
                await asyncio.sleep(wait)

    def _roll_day(self) -> None:
        today = self._day()
        if today != self._today:
            self._today = today
            self.spent_today = 0
