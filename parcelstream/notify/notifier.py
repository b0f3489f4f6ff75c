"""The notifier: milestone outbox -> planned deliveries -> provider calls, with retries.

It runs beside the processor but never inside its transaction, so a slow or failing provider
never slows scan processing. Each delivery is tried at most 1 + MAX_RETRIES times, backing off
exponentially with jitter (or as long as a 429's Retry-After asks), then dead-lettered: kept,
with its last error, for the deliveries API.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import msgspec

from parcelstream.domain.estimate import ESTIMATE_CHANGED, EstimateRecord
from parcelstream.domain.milestones import Occurrence
from parcelstream.domain.notifications import Attempt, Outgoing
from parcelstream.domain.numbers import detect
from parcelstream.domain.packages import Package
from parcelstream.domain.times import format_instant
from parcelstream.notify.links import LinkSigner, Unsubscribe
from parcelstream.notify.notice import DeliveryWindow, Notice
from parcelstream.notify.planning import plan_deliveries
from parcelstream.notify.providers.base import Message, Provider, ProviderError, Sent
from parcelstream.notify.providers.webhook import WebhookProvider
from parcelstream.notify.templates import TemplateRenderer
from parcelstream.retrying import backoff
from parcelstream.storage.ports import (
    EstimateStore,
    NotificationQueue,
    PackageLedger,
    SubscriptionStore,
)

log = logging.getLogger(__name__)

MAX_RETRIES = 3
_HOUR = 3_600_000_000
_encoder = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class NotifierPolicy:
    batch: int = 1000
    concurrency: int = 64
    poll_seconds: float = 0.1
    lease_seconds: float = 60.0
    max_age_hours: float = 24.0
    backoff_base_seconds: float = 2.0
    backoff_max_seconds: float = 600.0


class Notifier:
    def __init__(
        self,
        queue: NotificationQueue,
        subscriptions: SubscriptionStore,
        ledger: PackageLedger,
        providers: Mapping[str, Provider],
        renderer: TemplateRenderer,
        links: LinkSigner,
        *,
        policy: NotifierPolicy | None = None,
        clock: Callable[[], int] = lambda: time.time_ns() // 1000,
        estimates: EstimateStore | None = None,
    ) -> None:
        """`estimates`: where the delivery window every notification shows comes from."""
        self._estimates = estimates
        self._queue = queue
        self._subscriptions = subscriptions
        self._ledger = ledger
        self._providers = providers
        self._renderer = renderer
        self._links = links
        self._policy = policy or NotifierPolicy()
        self._clock = clock
        self._slots = asyncio.Semaphore(self._policy.concurrency)

    async def run(self, stop: asyncio.Event) -> None:
        failures = 0
        while not stop.is_set():
            try:
                busy = await self.run_once()
                failures = 0
            except Exception:
                failures += 1
                log.exception("notifier round failed")
                busy = False
            if not busy:
                pause = self._policy.poll_seconds * (2 ** min(failures, 6))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), pause)

    async def run_once(self) -> bool:
        """One round: dispatch new occurrences, send what is due. True if there was work."""
        now = self._clock()
        plan = functools.partial(
            plan_deliveries, now=now, max_age=int(self._policy.max_age_hours * _HOUR)
        )
        dispatched = await self._queue.dispatch(self._policy.batch, plan, now)
        due = await self._queue.claim(
            self._policy.batch, now, int(self._policy.lease_seconds * 1_000_000)
        )
        if due:
            numbers = list({d.occurrence.tracking_number for d in due})
            found = await asyncio.gather(*(self._ledger.package(tn) for tn in numbers))
            packages = dict(zip(numbers, found, strict=True))
            windows = await self._windows(numbers)
            attempts = await asyncio.gather(
                *(
                    self._attempt(
                        d,
                        packages[d.occurrence.tracking_number],
                        # once delivered, the last estimate is history, not news
                        None
                        if d.occurrence.milestone == "DELIVERED"
                        else windows.get(d.occurrence.tracking_number),
                    )
                    for d in due
                )
            )
            await self._queue.record(attempts)
        return bool(dispatched or due)

    async def _windows(self, numbers: list[str]) -> dict[str, DeliveryWindow]:
        """The latest estimate of each package, as notifications show it (none if unknown)."""
        if self._estimates is None:
            return {}
        try:
            found = await asyncio.gather(*(self._estimates.estimate(tn) for tn in numbers))
        except Exception as exc:  # a window is a nicety: never hold a notification for it
            log.warning("reading delivery estimates failed: %r", exc)
            return {}
        return {tn: _window(record) for tn, record in zip(numbers, found, strict=True) if record}

    async def _attempt(
        self, outgoing: Outgoing, package: Package | None, window: DeliveryWindow | None = None
    ) -> Attempt:
        async with self._slots:
            at = self._clock()
            started = time.perf_counter()
            provider_name: str | None = None
            try:
                provider = self._providers[outgoing.channel]
                provider_name = provider.name
                sent = await self._send(provider, outgoing, package, window)
            except ProviderError as exc:
                return self._failed(outgoing, at, started, provider_name, exc.reason, exc)
            except Exception as exc:  # a bug or a missing template: retried, then parked
                log.exception("delivery %s failed unexpectedly", outgoing.event_id)
                return self._failed(outgoing, at, started, provider_name, repr(exc), None)
            return Attempt(
                outgoing.delivery_id,
                at,
                "sent",
                _ms_since(started),
                sent.provider,
                sent.message_id,
            )

    def _failed(
        self,
        outgoing: Outgoing,
        at: int,
        started: float,
        provider: str | None,
        reason: str,
        error: ProviderError | None,
    ) -> Attempt:
        number = outgoing.attempts + 1
        retryable = error is None or error.retryable
        if not retryable or number > MAX_RETRIES:
            log.warning("delivery %s dead after %d attempts: %s", outgoing.event_id, number, reason)
            return Attempt(
                outgoing.delivery_id, at, "dead", _ms_since(started), provider, error=reason
            )
        delay = self._backoff(number, error.retry_after if error else None)
        return Attempt(
            outgoing.delivery_id,
            at,
            "retry",
            _ms_since(started),
            provider,
            error=reason,
            next_attempt_at=at + int(delay * 1_000_000),
        )

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        policy = self._policy
        delay = backoff(policy.backoff_base_seconds, policy.backoff_max_seconds, attempt)
        return max(delay, retry_after or 0.0)

    async def _send(
        self,
        provider: Provider,
        outgoing: Outgoing,
        package: Package | None,
        window: DeliveryWindow | None = None,
    ) -> Sent:
        occurrence = outgoing.occurrence
        carrier = package.carrier if package and package.carrier else None
        if carrier is None:
            carrier = detect(occurrence.tracking_number).carrier
        recipient = package.recipient if package else None
        notice = _notice(
            outgoing,
            carrier=carrier,
            recipient_name=recipient.name
            if recipient and outgoing.subscription_id.startswith("recipient:")
            else None,
            tracking_url=self._links.tracking_url(occurrence.tracking_number),
            unsubscribe_url=self._links.unsubscribe_url(
                Unsubscribe(outgoing.subscription_id, occurrence.tracking_number)
            ),
            window=window,
        )
        if outgoing.channel == "webhook":
            subscription = await self._subscriptions.subscription(outgoing.subscription_id)
            if subscription is None or not subscription.secret:
                raise ProviderError("the webhook subscription is gone", retryable=False)
            assert isinstance(provider, WebhookProvider)
            return await provider.send_signed(
                _webhook_message(outgoing, notice), subscription.secret
            )
        return await provider.send(self._message(outgoing, notice))

    def _message(self, outgoing: Outgoing, notice: Notice) -> Message:
        to, event_id = outgoing.address, outgoing.event_id
        if outgoing.channel == "email":
            email = self._renderer.email(notice)
            return Message(
                channel="email",
                to=to,
                event_id=event_id,
                subject=email.subject,
                text=email.text,
                html=email.html,
                unsubscribe_url=notice.unsubscribe_url,
            )
        if outgoing.channel == "sms":
            text = self._renderer.sms(notice).text
            return Message(channel="sms", to=to, event_id=event_id, text=text)
        push = self._renderer.push(notice)
        return Message(
            channel="push",
            to=to,
            event_id=event_id,
            title=push.title,
            text=push.body,
            data={
                "tracking_number": notice.tracking_number,
                "status": notice.milestone,
                "event_id": notice.event_id,
            },
        )


def _notice(
    outgoing: Outgoing,
    *,
    carrier: str | None,
    recipient_name: str | None,
    tracking_url: str,
    unsubscribe_url: str,
    window: DeliveryWindow | None = None,
) -> Notice:
    occurrence: Occurrence = outgoing.occurrence
    place = occurrence.location
    return Notice(
        event_id=outgoing.event_id,
        tracking_number=occurrence.tracking_number,
        carrier=carrier,
        milestone=occurrence.milestone,
        milestone_number=occurrence.number,
        status_detail=occurrence.detail,
        occurred_at=format_instant(occurrence.occurred_at, occurrence.utc_offset),
        city=place.city if place else None,
        region=place.region if place else None,
        country=place.country if place else None,
        tracking_url=tracking_url,
        unsubscribe_url=unsubscribe_url,
        recipient_name=recipient_name,
        window=window,
    )


def _webhook_message(outgoing: Outgoing, notice: Notice) -> Message:
    body = _encoder.encode(
        {
            "event_id": notice.event_id,
            "type": "tracking.estimate_changed"
            if notice.milestone == ESTIMATE_CHANGED
            else "tracking.milestone",
            "tracking_number": notice.tracking_number,
            "carrier": notice.carrier,
            "status": notice.milestone,
            "status_detail": notice.status_detail,
            "milestone_number": notice.milestone_number,
            "event": {
                "timestamp": notice.occurred_at,
                "location": {
                    "city": notice.city,
                    "region": notice.region,
                    "country": notice.country,
                },
            },
            "estimated_delivery": None
            if notice.window is None
            else {
                "date": notice.window.date,
                "earliest": notice.window.earliest,
                "latest": notice.window.latest,
            },
            "tracking_url": notice.tracking_url,
        }
    )
    return Message(channel="webhook", to=outgoing.address, event_id=outgoing.event_id, body=body)


def _window(record: EstimateRecord) -> DeliveryWindow:
    latest = record.latest
    zone = ZoneInfo(latest.zone)
    return DeliveryWindow(
        date=latest.date,
        earliest=_in_zone(latest.earliest, zone),
        latest=_in_zone(latest.latest, zone),
    )


def _in_zone(micros: int, zone: ZoneInfo) -> str:
    seconds, fraction = divmod(micros, 1_000_000)
    moment = datetime.fromtimestamp(seconds, zone).replace(microsecond=fraction)
    return moment.isoformat(timespec="seconds")


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
