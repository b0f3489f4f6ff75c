"""The poller: asks partner carriers' tracking APIs about packages that push has gone quiet on.

Three loops share one stop event:
- *follow*: the shared consumer loop over the event log (its own durable consumer, `poller`).
  Every registration and scan of a partner-carrier package folds into that package's polling
  state, acknowledged only after the state is committed: the log is the outbox, so no crash can
  lose a schedule change, and re-reading a record changes nothing.
- *poll*: claims packages whose poll is due (a lease hides them from other pollers), asks the
  carrier within its budget, appends the scans the history lacks to the event log (the same
  intake as pushes and scanners), and schedules the next poll. A 429 or 5xx pauses that carrier,
  backing off with jitter, and the packages are asked about again after it.
- *renew*: keeps UPS Track Alert subscriptions alive (see subscriptions.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import msgspec

from parcelstream.carriers.budget import DailyCapReached, backoff
from parcelstream.carriers.subscriptions import RenewalPolicy, renew_ups_subscriptions
from parcelstream.carriers.tracking_api import PollFailed, TrackingApi
from parcelstream.carriers.updates import CarrierUpdate
from parcelstream.domain.numbers import detect
from parcelstream.domain.polling import (
    DAY,
    News,
    PollPolicy,
    PollState,
    absorb,
    after_poll,
    next_poll_at,
)
from parcelstream.domain.scans import Scan
from parcelstream.events import PackageRegistered, decode_event
from parcelstream.ingest.scans import ScanIntake
from parcelstream.metrics import count_unknown_codes
from parcelstream.pipeline.consumer import ConsumerPolicy, run_consumer
from parcelstream.storage.ports import Delivery, EventLog, PackageLedger, PollSchedule

log = logging.getLogger(__name__)

CONSUMER_NAME = "poller"


@dataclass(frozen=True, slots=True)
class PollerPolicy:
    poll: PollPolicy = field(default_factory=PollPolicy)
    renewal: RenewalPolicy = field(default_factory=RenewalPolicy)
    claim_batch: int = 200
    lease_seconds: float = 120.0
    idle_seconds: float = 1.0
    """How long a round with nothing due waits before claiming again."""
    backoff_base_seconds: float = 2.0
    backoff_max_seconds: float = 600.0
    consumer: ConsumerPolicy = field(default_factory=lambda: ConsumerPolicy(batch_size=2000))


@dataclass
class PollerStats:
    polls: int = 0
    failures: int = 0
    found: int = 0
    subscribed: int = 0


class Poller:
    def __init__(
        self,
        event_log: EventLog,
        intake: ScanIntake,
        ledger: PackageLedger,
        schedule: PollSchedule,
        apis: Mapping[str, TrackingApi],
        *,
        policy: PollerPolicy | None = None,
        clock: Callable[[], int] = lambda: time.time_ns() // 1000,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._log = event_log
        self._intake = intake
        self._ledger = ledger
        self._schedule = schedule
        self._apis = dict(apis)
        self._policy = policy or PollerPolicy()
        self._clock = clock
        self._rng = rng
        self._failures: dict[str, int] = defaultdict(int)
        self._renewal_failures = 0
        self.stats = PollerStats()

    async def run(self, stop: asyncio.Event) -> None:
        loops = [self._follow(stop), self._poll_rounds(stop)]
        if "ups" in self._apis and self._apis["ups"].access.subscribe:
            loops.append(self._renew_rounds(stop))
        await asyncio.gather(*loops)

    # -- follow: the event log into polling state ---------------------------------------------

    async def _follow(self, stop: asyncio.Event) -> None:
        consumer = self._log.consumer(CONSUMER_NAME)

        async def handle(batch: Sequence[Delivery]) -> None:
            news: dict[str, list[News]] = defaultdict(list)
            now = self._clock()
            for delivery in batch:
                try:
                    event = decode_event(delivery.payload)
                except (msgspec.DecodeError, msgspec.ValidationError):
                    continue  # the processor parks it; nothing here to schedule
                if isinstance(event, PackageRegistered):
                    package = event.package
                    carrier = package.carrier or detect(package.tracking_number).carrier
                    given = package.carrier is not None
                    if carrier in self._apis or given:
                        news[package.tracking_number].append(
                            News(package.tracking_number, carrier or "", now, (), given)
                        )
                else:
                    scan = event.scan
                    found = detect(scan.tracking_number).carriers
                    if found and not set(found) & self._apis.keys():
                        continue  # surely nobody's partner package: skip the store
                    news[scan.tracking_number].append(
                        News(
                            scan.tracking_number,
                            found[0] if len(found) == 1 else "",
                            now,
                            ((scan.occurred_at, scan.status_code),),
                        )
                    )
            if news:
                await self._schedule.update(list(news), self._absorb_all(news, now))

        try:
            await run_consumer(
                consumer, handle, stop, probe=self._ledger.ping, policy=self._policy.consumer
            )
        finally:
            await consumer.close()

    def _absorb_all(
        self, news: Mapping[str, list[News]], now: int
    ) -> Callable[[str, PollState | None], PollState | None]:
        def change(tn: str, state: PollState | None) -> PollState | None:
            for item in news.get(tn, ()):
                if state is None and item.carrier not in self._apis:
                    continue  # not followed (yet): a registration naming the carrier may come
                state = absorb(state, item)
            return self._rescheduled(state, now) if state is not None else None

        return change

    def _rescheduled(self, state: PollState, now: int) -> PollState:
        followed = state.carrier in self._apis
        due = next_poll_at(state, self._policy.poll, now, self._spread()) if followed else None
        renew_at = state.renew_at
        api = self._apis.get(state.carrier)
        if due is None:
            renew_at = None
        elif api is not None and api.access.subscribe and state.subscribed_until is None:
            renew_at = renew_at if renew_at is not None else now
        return replace(state, due_at=due, renew_at=renew_at)

    def _spread(self) -> float:
        return self._rng() * 2 - 1

    # -- poll: due packages, within each carrier's budget -------------------------------------

    async def _poll_rounds(self, stop: asyncio.Event) -> None:
        failures = 0
        while not stop.is_set():
            try:
                busy = await self.poll_once()
                failures = 0
            except Exception:
                failures += 1
                busy = False
                log.exception("poll round failed")
            if not busy:
                pause = self._policy.idle_seconds * (2 ** min(failures, 6))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), pause)

    async def poll_once(self) -> bool:
        """One round: claim what is due for carriers not paused, poll it. True if any was due."""
        now = self._clock()
        ready = [
            c
            for c, api in self._apis.items()
            if not api.budget.paused_for and not api.budget.exhausted()
        ]
        if not ready:
            return False
        lease = int(self._policy.lease_seconds * 1_000_000)
        calls = []
        for carrier in ready:
            api = self._apis[carrier]
            due = await self._schedule.claim_due([carrier], self._claimable(api), now, lease)
            numbers = [state.tracking_number for state in due]
            for start in range(0, len(numbers), api.batch):
                calls.append(self._poll(api, numbers[start : start + api.batch]))
        await asyncio.gather(*calls)
        return bool(calls)

    def _claimable(self, api: TrackingApi) -> int:
        """No more than the budget lets us ask about in half a lease: a claim the budget holds
        back past its lease would be claimed (and polled) a second time."""
        calls = int(api.budget.limits.rate * self._policy.lease_seconds / 2)
        return min(self._policy.claim_batch, max(1, calls) * api.batch)

    async def _poll(self, api: TrackingApi, numbers: list[str]) -> None:
        try:
            answer = await api.track(numbers)
        except DailyCapReached:
            tomorrow = (self._clock() // DAY + 1) * DAY
            await self._schedule.update(numbers, _due_at(tomorrow))
            return
        except PollFailed as exc:
            await self._failed(api, numbers, exc)
            return
        self._failures[api.carrier] = 0
        self.stats.polls += len(numbers)
        updates: dict[str, list[Scan]] = defaultdict(list)
        for update in answer.parsed.updates:
            if update.tracking_number in numbers:
                updates[update.tracking_number].extend(update.scans)
            _count_unknown(update)
        new = await self._new_scans(updates)
        polled_at = self._clock()

        def change(tn: str, state: PollState | None) -> PollState | None:
            if state is None:
                return None
            found = tuple((s.occurred_at, s.status_code.value) for s in new.get(tn, ()))
            return self._rescheduled(after_poll(state, polled_at, found), polled_at)

        await self._schedule.update(numbers, change)

    async def _new_scans(self, updates: Mapping[str, list[Scan]]) -> dict[str, list[Scan]]:
        """The scans our history lacks, put on the event log through the same intake as pushes;
        the log drops any that a push put there a moment ago (same dedup id)."""
        numbers = list(updates)
        histories = await asyncio.gather(*(self._ledger.history(tn) for tn in numbers))
        candidates: list[Scan] = []
        for tn, history in zip(numbers, histories, strict=True):
            known = {s.dedup_key for s in history}
            fresh = {s.dedup_key: s for s in updates[tn] if s.dedup_key not in known}
            candidates.extend(fresh.values())
        if not candidates:
            return {}
        accepted, _ = await self._intake.append(candidates)
        self.stats.found += accepted
        new: dict[str, list[Scan]] = defaultdict(list)
        for scan in candidates:
            new[scan.tracking_number].append(scan)
        return new

    async def _failed(self, api: TrackingApi, numbers: list[str], exc: PollFailed) -> None:
        self._failures[api.carrier] += 1
        self.stats.failures += 1
        failures = self._failures[api.carrier]
        delay = exc.retry_after
        if delay is None:
            delay = backoff(
                failures,
                self._policy.backoff_base_seconds,
                self._policy.backoff_max_seconds,
                self._rng,
            )
        # The whole carrier waits: a 429 or an outage is about the carrier, not one package.
        api.budget.pause(delay)
        log.warning(
            "%s poll of %d failed (%d in a row), retrying in %.1f s: %s",
            api.carrier, len(numbers), failures, delay, exc.reason,
        )  # fmt: skip
        await self._schedule.update(numbers, _due_at(self._clock() + int(delay * 1_000_000)))

    # -- renew: UPS Track Alert --------------------------------------------------------------

    async def _renew_rounds(self, stop: asyncio.Event) -> None:
        api = self._apis["ups"]
        while not stop.is_set():
            busy = False
            try:
                busy = (
                    await renew_ups_subscriptions(
                        api,
                        self._schedule,
                        self._clock(),
                        self._policy.renewal,
                        self._rng,
                        self._renewal_failures + 1,
                    )
                    > 0
                )
                self._renewal_failures = 0
                self.stats.subscribed += int(busy)
            except PollFailed:
                self._renewal_failures += 1
            except Exception:
                self._renewal_failures += 1
                log.exception("renewing UPS subscriptions failed")
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._policy.idle_seconds)


def _due_at(when: int) -> Callable[[str, PollState | None], PollState | None]:
    def change(tn: str, state: PollState | None) -> PollState | None:
        if state is None or state.due_at is None:
            return None
        return replace(state, due_at=when)

    return change


def _count_unknown(update: CarrierUpdate) -> None:
    if update.unknown_codes:
        count_unknown_codes(update.carrier, update.unknown_codes)
        log.info(
            "%s %s: codes not in our tables: %s",
            update.carrier, update.tracking_number, ", ".join(update.unknown_codes),
        )  # fmt: skip
