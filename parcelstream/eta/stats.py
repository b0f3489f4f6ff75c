"""Transit statistics learned from the delivered packages of a recent period, refreshed now and
then and shared by every estimate meanwhile."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable

from parcelstream.domain.estimate_calibration import CalibratedBuilder
from parcelstream.domain.estimate_stats import EtaStats
from parcelstream.domain.packages import Package
from parcelstream.domain.scans import Scan
from parcelstream.domain.status import derive_status
from parcelstream.storage.ports import EstimateStore

log = logging.getLogger(__name__)

_DAY = 86_400_000_000


def learn(
    builder: CalibratedBuilder, delivered: Iterable[tuple[Package | None, list[Scan]]]
) -> int:
    """Feed delivered histories to `builder`; how many it learned from."""
    learned = 0
    for package, history in delivered:
        if builder.add(package, derive_status(history)):
            learned += 1
    return learned


async def train(store: EstimateStore, since: int, until: int, batch: int = 1000) -> EtaStats:
    """Statistics from the packages delivered in [since, until), read `batch` at a time; the
    fitting runs off the event loop."""
    builder = CalibratedBuilder()
    async for chunk in store.delivered(since, until, batch):
        await asyncio.to_thread(learn, builder, chunk)
    return await asyncio.to_thread(builder.build)


class StatsCache:
    """The statistics the worker estimates with: trained at start, then every `refresh_seconds`
    on the last `training_days` (a failed refresh keeps the previous statistics)."""

    def __init__(
        self,
        store: EstimateStore,
        *,
        training_days: float = 28.0,
        refresh_seconds: float = 3600.0,
        clock: Callable[[], int] = lambda: time.time_ns() // 1000,
    ) -> None:
        self._store = store
        self._training = int(training_days * _DAY)
        self._refresh = refresh_seconds
        self._clock = clock
        self._stats: EtaStats | None = None
        self._trained_at = float("-inf")
        self._lock = asyncio.Lock()

    async def current(self) -> EtaStats:
        if self._stats is None or time.monotonic() - self._trained_at >= self._refresh:
            async with self._lock:
                if self._stats is None or time.monotonic() - self._trained_at >= self._refresh:
                    await self._retrain()
        assert self._stats is not None
        return self._stats

    async def _retrain(self) -> None:
        now = self._clock()
        started = time.monotonic()
        try:
            stats = await train(self._store, now - self._training, now)
        except Exception:
            if self._stats is None:
                raise
            log.exception("refreshing the EDD statistics failed; keeping the previous ones")
            self._trained_at = time.monotonic()
            return
        self._stats = stats
        self._trained_at = time.monotonic()
        log.info(
            "EDD statistics: %d deliveries, %d facility and %d lane statistics, in %.1f s",
            stats.deliveries,
            len(stats.remaining),
            len(stats.lanes),
            self._trained_at - started,
        )
