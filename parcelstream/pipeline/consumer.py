"""The one consumer loop every worker runs: batched fetch, ack after commit, backoff, graceful
stop, and a dead letter for what can never succeed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from parcelstream.retrying import backoff
from parcelstream.storage.ports import Delivery, LogConsumer

log = logging.getLogger(__name__)

Handler = Callable[[Sequence[Delivery]], Awaitable[None]]
Probe = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ConsumerPolicy:
    batch_size: int = 5000
    fetch_timeout: float = 0.5
    attempts_before_split: int = 4
    backoff_base: float = 0.05
    backoff_max: float = 10.0


async def run_consumer(
    consumer: LogConsumer,
    handle: Handler,
    stop: asyncio.Event,
    *,
    probe: Probe,
    policy: ConsumerPolicy = ConsumerPolicy(),
) -> None:
    """Run until `stop` is set. A batch in hand is finished and acknowledged before returning;
    one interrupted mid-retry is left unacknowledged and comes back after a restart."""
    failures = 0
    while not stop.is_set():
        try:
            batch = await consumer.fetch(policy.batch_size, policy.fetch_timeout)
        except Exception:
            log.exception("fetching from the event log failed")
            failures += 1
            await _sleep_or_stop(stop, _backoff(policy, failures))
            continue
        failures = 0
        if not batch:
            continue
        if await _handle(consumer, handle, batch, stop, probe, policy):
            try:
                await consumer.ack(batch)
            except Exception:
                # Unacknowledged records come back and are applied again, which changes nothing.
                log.exception(
                    "acknowledging a batch of %d failed; it will be redelivered", len(batch)
                )


async def _handle(
    consumer: LogConsumer,
    handle: Handler,
    batch: Sequence[Delivery],
    stop: asyncio.Event,
    probe: Probe,
    policy: ConsumerPolicy,
) -> bool:
    """True once every record is handled or parked; False if stopped first."""
    attempt = 0
    while True:
        try:
            await handle(batch)
            return True
        except Exception as exc:
            attempt += 1
            log.warning("batch of %d failed (attempt %d): %r", len(batch), attempt, exc)
            if attempt >= policy.attempts_before_split and await _healthy(probe):
                # Storage answers, yet the batch keeps failing: some record in it is poison.
                if len(batch) == 1:
                    await consumer.dead_letter(batch[0], f"{type(exc).__name__}: {exc}")
                    log.error("record %d parked in the dead letter: %r", batch[0].position, exc)
                    return True
                middle = len(batch) // 2
                for half in (batch[:middle], batch[middle:]):
                    if not await _handle(consumer, handle, half, stop, probe, policy):
                        return False
                return True
            if await _sleep_or_stop(stop, _backoff(policy, attempt)):
                return False


async def _healthy(probe: Probe) -> bool:
    try:
        await probe()
    except Exception:
        return False
    return True


def _backoff(policy: ConsumerPolicy, attempt: int) -> float:
    return backoff(policy.backoff_base, policy.backoff_max, attempt)


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep; True if `stop` was set meanwhile."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return False
    return True
