"""Who is told of a milestone occurrence: explicit subscriptions plus the shipper's and
recipient's automatic ones from master data, less those who opted out. Pure."""

from __future__ import annotations

from hashlib import blake2b

from parcelstream.domain.milestones import Occurrence
from parcelstream.domain.notifications import PlannedDelivery, Subscription
from parcelstream.domain.packages import Contact, Package
from parcelstream.domain.status import MILESTONES

_ALL_MILESTONES = frozenset(MILESTONES)


def plan_deliveries(
    occurrence: Occurrence,
    package: Package | None,
    subscriptions: list[Subscription],
    opted_out: frozenset[tuple[str, str]],
    *,
    now: int,
    max_age: int,
) -> list[PlannedDelivery]:
    """`max_age` (microseconds): an occurrence older than that when it is first seen (a carrier's
    backfill, a device flushing last week's buffer) is recorded but tells nobody."""
    if now - occurrence.occurred_at > max_age:
        return []
    planned: dict[tuple[str, str], PlannedDelivery] = {}
    for subscription in [*subscriptions, *automatic_subscriptions(package)]:
        target = (subscription.channel, subscription.address)
        if occurrence.milestone not in subscription.milestones or target in planned:
            continue
        if subscription.source != "api" and target in opted_out:
            continue
        planned[target] = PlannedDelivery(
            event_id=event_id(occurrence, subscription.subscription_id),
            subscription_id=subscription.subscription_id,
            channel=subscription.channel,
            address=subscription.address,
        )
    return list(planned.values())


def automatic_subscriptions(package: Package | None) -> list[Subscription]:
    if package is None:
        return []
    found = []
    for role, contact, default in (
        ("recipient", package.recipient, ("email", "sms")),
        ("shipper", package.shipper, ()),
    ):
        if contact is None:
            continue
        channels = contact.notify if contact.notify is not None else default
        for channel in channels:
            address = _address(contact, channel)
            if address:
                found.append(
                    Subscription(
                        subscription_id=f"{role}:{channel}",
                        tracking_number=package.tracking_number,
                        channel=channel,
                        address=address,
                        milestones=frozenset(contact.milestones or _ALL_MILESTONES),
                        source=role,
                    )
                )
    return found


def event_id(occurrence: Occurrence, subscription_id: str) -> str:
    """Stable across retries and redeliveries: receivers deduplicate on it."""
    tn, milestone, number = occurrence.key
    digest = blake2b(f"{tn}|{milestone}|{number}|{subscription_id}".encode(), digest_size=12)
    return "evt_" + digest.hexdigest()


def _address(contact: Contact, channel: str) -> str | None:
    return contact.email if channel == "email" else contact.phone if channel == "sms" else None
