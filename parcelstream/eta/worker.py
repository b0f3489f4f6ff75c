"""The EDD worker: EDD requests -> estimate from history and statistics -> estimates and the
patched read-model document (and an estimate-changed event when the date moves).

It runs the shared consumer loop over the request outbox the processor writes, so scan
processing never waits for an estimate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence

from parcelstream.domain.estimate import changed_event, estimate, revise
from parcelstream.domain.estimate_stats import EtaStats, delivered_at
from parcelstream.domain.status import derive_status
from parcelstream.eta.stats import StatsCache
from parcelstream.pipeline.consumer import ConsumerPolicy, run_consumer
from parcelstream.storage.ports import Delivery, EstimateStore, EstimateUpdate, EtaInput
from parcelstream.tracking.document import patch_estimate, render_estimate

log = logging.getLogger(__name__)


def update_for(item: EtaInput, stats: EtaStats, now: int) -> EstimateUpdate:
    """What one package's estimate becomes as of `now`."""
    state = derive_status(item.history)
    new = estimate(item.package, state, stats, now)
    if new is None:
        return EstimateUpdate(item.tracking_number, None, None, delivered_at=delivered_at(state))
    record, moved = revise(item.record, new)
    return EstimateUpdate(
        item.tracking_number,
        record,
        render_estimate(record),
        changed=changed_event(item.tracking_number, record, now, state.last_location)
        if moved
        else None,
        version=item.version,
    )


def updates_for(items: Sequence[EtaInput], stats: EtaStats, now: int) -> list[EstimateUpdate]:
    return [update_for(item, stats, now) for item in items]


class EtaWorker:
    def __init__(
        self,
        store: EstimateStore,
        stats: StatsCache,
        *,
        policy: ConsumerPolicy | None = None,
        clock: Callable[[], int] = lambda: time.time_ns() // 1000,
        share: float = 1.0,
    ) -> None:
        """`share`: the most of its process's time the worker takes (it pauses after each batch
        for as long as that needs); below 1 where it shares a process with the processor."""
        if not 0 < share <= 1:
            raise ValueError(f"share must be in (0, 1], not {share}")
        self._share = share
        self._store = store
        self._stats = stats
        self._policy = policy or ConsumerPolicy(batch_size=1000)
        self._clock = clock

    async def run(self, stop: asyncio.Event) -> None:
        consumer = self._store.requests()

        async def handle(batch: Sequence[Delivery]) -> None:
            began = time.monotonic()
            numbers = list(dict.fromkeys(d.payload.decode() for d in batch))
            stats = await self._stats.current()
            items = await self._store.inputs(numbers)
            # Deriving status and estimating is CPU work: off the event loop.
            updates = await asyncio.to_thread(updates_for, items, stats, self._clock())
            await self._store.save(updates, patch_estimate)
            if self._share < 1:
                # Requests for one package coalesce while the worker pauses, so a busy processor
                # costs the worker fewer estimates, never the processor its speed.
                pause = (time.monotonic() - began) * (1 / self._share - 1)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), pause)

        async def probe() -> None:
            await self._store.estimate("")

        try:
            await run_consumer(consumer, handle, stop, probe=probe, policy=self._policy)
        finally:
            await consumer.close()
