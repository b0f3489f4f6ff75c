"""Subscribing and unsubscribing, as a service the HTTP routes call: validation included."""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Literal
from urllib.parse import urlsplit

import msgspec

from parcelstream.domain.contacts import E164_HINT, EMAIL_HINT, is_e164, is_email
from parcelstream.domain.errors import RejectedInput, Rejection
from parcelstream.domain.notifications import DeliveryRecord, Subscription
from parcelstream.domain.numbers import detect, normalize
from parcelstream.domain.status import MILESTONES
from parcelstream.notify.links import LinkSigner, Unsubscribe
from parcelstream.notify.planning import automatic_subscriptions
from parcelstream.storage.ports import NotificationQueue, PackageLedger, SubscriptionStore
from parcelstream.wire_errors import rejections_from_msgspec

_DEVICE_TOKEN = re.compile(r"^[A-Za-z0-9:_\-.]{16,4096}$")
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
Milestone = Literal[
    "PICKED_UP",
    "OUT_FOR_DELIVERY",
    "DELIVERED",
    "ATTEMPTED_DELIVERY",
    "EXCEPTION",
    "ESTIMATE_CHANGED",  # opt-in only: never part of the default milestones
]


class SubscribeIn(msgspec.Struct):
    tracking_number: Annotated[str, msgspec.Meta(max_length=80)]
    channel: Literal["email", "sms", "push", "webhook"]
    address: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]
    milestones: list[Milestone] | None = None


_decoder = msgspec.json.Decoder(SubscribeIn)


@dataclass(frozen=True, slots=True)
class Subscribed:
    subscription: Subscription
    unsubscribe_url: str


class SubscriptionService:
    def __init__(
        self,
        store: SubscriptionStore,
        queue: NotificationQueue,
        ledger: PackageLedger,
        links: LinkSigner,
    ) -> None:
        self._store = store
        self._queue = queue
        self._ledger = ledger
        self._links = links

    async def subscribe(
        self, body: bytes, require_key: Callable[[], Awaitable[object]]
    ) -> Subscribed:
        """`require_key` is awaited for webhooks: only shippers' systems (with a key) may add
        one; anyone who knows a tracking number may ask for e-mail, SMS or push."""
        try:
            item = _decoder.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise RejectedInput(rejections_from_msgspec(exc)) from None
        if item.channel == "webhook":
            await require_key()
        number = normalize(item.tracking_number)
        if not detect(number).valid:
            raise RejectedInput(
                Rejection(
                    "tracking_number", "not a valid tracking number", "invalid_tracking_number"
                )
            )
        problem = address_problem(item.channel, item.address)
        if problem:
            raise RejectedInput(Rejection("address", problem))
        subscription = Subscription(
            subscription_id="sub_" + secrets.token_hex(12),
            tracking_number=number,
            channel=item.channel,
            address=item.address,
            milestones=frozenset(item.milestones or MILESTONES),
            secret="whsec_" + secrets.token_urlsafe(24) if item.channel == "webhook" else None,
        )
        await self._store.subscribe(subscription)
        link = self._links.unsubscribe_url(Unsubscribe(subscription.subscription_id))
        return Subscribed(subscription, link)

    async def unsubscribe(self, subscription_id: str) -> Subscription:
        removed = await self._store.unsubscribe(subscription_id)
        if removed is None:
            raise RejectedInput(
                Rejection(
                    "subscription_id", "no such subscription (or already removed)", "not_found"
                )
            )
        return removed

    async def unsubscribe_by_link(self, token: str) -> tuple[str, str]:
        """(tracking number, channel) of what the link stopped; unknown links are refused."""
        request = self._links.read(token)
        if request is None:
            raise RejectedInput(Rejection("token", "not a valid unsubscribe link", "not_found"))
        if request.tracking_number is None:
            removed = await self._store.unsubscribe(request.subscription_id)
            if removed is None:  # already gone: the link did its work earlier
                return "", ""
            return removed.tracking_number, removed.channel
        package = await self._ledger.package(request.tracking_number)
        automatic = {s.subscription_id: s for s in automatic_subscriptions(package)}
        chosen = automatic.get(request.subscription_id)
        if chosen is not None:
            await self._store.opt_out(chosen.tracking_number, chosen.channel, chosen.address)
        return request.tracking_number, request.subscription_id.partition(":")[2]

    async def deliveries(self, tracking_number: str) -> list[DeliveryRecord]:
        return await self._queue.deliveries(normalize(tracking_number))


def address_problem(channel: str, address: str) -> str | None:
    if channel == "email" and not is_email(address):
        return EMAIL_HINT
    if channel == "sms" and not is_e164(address):
        return E164_HINT
    if channel == "push" and not _DEVICE_TOKEN.match(address):
        return "not a device registration token"
    if channel == "webhook":
        parts = urlsplit(address)
        local = parts.scheme == "http" and parts.hostname in _LOOPBACK
        if not (parts.scheme == "https" or local) or not parts.hostname:
            return "an https:// URL"
    return None
