"""The notification stores' contract: the outbox the ledger writes becomes deliveries exactly once,
claims hide deliveries for a lease, and attempts, receipts and removals are kept."""

from __future__ import annotations

import functools

from parcelstream.domain.notifications import Attempt, Subscription
from parcelstream.domain.packages import Contact, Package
from parcelstream.domain.scans import Location, Scan, ScanCode
from parcelstream.notify.planning import plan_deliveries
from parcelstream.pipeline.projection import project_package
from parcelstream.storage.ports import Planner
from tests.contract.conftest import NotificationStore, StateStore

TN = "1Z5R89390357567127"
HOUR = 3_600_000_000
T0 = 1_795_000_000_000_000
NOW = T0 + 48 * HOUR
ALL = frozenset({"PICKED_UP", "OUT_FOR_DELIVERY", "DELIVERED", "ATTEMPTED_DELIVERY", "EXCEPTION"})

Pair = tuple[StateStore, NotificationStore]


def scan(hour: int, code: ScanCode, exception: str | None = None) -> Scan:
    return Scan(
        TN,
        "ATL-DS-7",
        T0 + hour * HOUR,
        -300,
        code,
        exception,
        None,
        Location("Atlanta", "GA", "30336", "US"),
    )


def planner(now: int = NOW) -> Planner:
    return functools.partial(plan_deliveries, now=now, max_age=72 * HOUR)


async def test_each_milestone_occurrence_is_planned_once_per_subscription(
    notifications: Pair,
) -> None:
    ledger, store = notifications
    await store.subscribe(Subscription("s1", TN, "email", "dana@example.com", ALL))
    await store.subscribe(Subscription("s2", TN, "sms", "+14045550199", frozenset({"DELIVERED"})))
    await ledger.apply(
        [scan(1, ScanCode.PICKED_UP), scan(30, ScanCode.OUT_FOR_DELIVERY)], [], project_package
    )
    assert await store.dispatch(100, planner(), NOW) == 2
    # The same scans again, a processor restart, a second dispatch: nothing new is planned.
    await ledger.apply([scan(1, ScanCode.PICKED_UP)], [], project_package)
    assert await store.dispatch(100, planner(), NOW) == 0
    await ledger.apply([scan(34, ScanCode.DELIVERED)], [], project_package)
    assert await store.dispatch(100, planner(), NOW) == 1

    records = await store.deliveries(TN)
    assert sorted((r.milestone, r.channel) for r in records) == [
        ("DELIVERED", "email"),
        ("DELIVERED", "sms"),
        ("OUT_FOR_DELIVERY", "email"),
        ("PICKED_UP", "email"),
    ]
    assert all(r.state == "pending" and r.attempts == 0 for r in records)
    assert len({r.event_id for r in records}) == 4


async def test_a_second_delivery_day_is_a_new_occurrence(notifications: Pair) -> None:
    ledger, store = notifications
    await store.subscribe(
        Subscription("s1", TN, "email", "dana@example.com", frozenset({"OUT_FOR_DELIVERY"}))
    )
    await ledger.apply(
        [
            scan(8, ScanCode.OUT_FOR_DELIVERY),
            scan(12, ScanCode.DELIVERY_ATTEMPTED, "NO_ACCESS"),
            scan(32, ScanCode.OUT_FOR_DELIVERY),
        ],
        [],
        project_package,
    )
    await store.dispatch(100, planner(), NOW)
    assert [(r.milestone, r.number) for r in await store.deliveries(TN)] == [
        ("OUT_FOR_DELIVERY", 1),
        ("OUT_FOR_DELIVERY", 2),
    ]


async def test_automatic_subscriptions_follow_master_data_and_opt_outs(notifications: Pair) -> None:
    ledger, store = notifications
    recipient = Contact("Dana", "dana@example.com", "+14045550199")
    await ledger.apply([], [Package(TN, registered_at=T0, recipient=recipient)], project_package)
    await store.opt_out(TN, "sms", "+14045550199")
    await ledger.apply([scan(30, ScanCode.OUT_FOR_DELIVERY)], [], project_package)
    await store.dispatch(100, planner(), NOW)
    assert [(r.channel, r.address) for r in await store.deliveries(TN)] == [
        ("email", "dana@example.com")
    ]


async def test_stale_occurrences_tell_nobody(notifications: Pair) -> None:
    ledger, store = notifications
    await store.subscribe(Subscription("s1", TN, "email", "dana@example.com", ALL))
    await ledger.apply([scan(1, ScanCode.PICKED_UP)], [], project_package)
    assert await store.dispatch(100, planner(now=T0 + 500 * HOUR), T0 + 500 * HOUR) == 1
    assert await store.deliveries(TN) == []


async def test_claims_hide_deliveries_for_the_lease(notifications: Pair) -> None:
    ledger, store = notifications
    await store.subscribe(Subscription("s1", TN, "email", "dana@example.com", ALL))
    await ledger.apply([scan(1, ScanCode.PICKED_UP)], [], project_package)
    await store.dispatch(100, planner(), NOW)

    [claimed] = await store.claim(10, NOW, lease=60_000_000)
    assert claimed.channel == "email"
    assert claimed.address == "dana@example.com"
    assert claimed.occurrence.milestone == "PICKED_UP"
    assert claimed.occurrence.location is not None
    assert claimed.occurrence.location.city == "Atlanta"
    assert await store.claim(10, NOW + 1, lease=60_000_000) == []
    # A notifier that died holding it: the lease runs out and the delivery comes back.
    [again] = await store.claim(10, NOW + 61_000_000, lease=60_000_000)
    assert again.delivery_id == claimed.delivery_id


async def test_attempts_retries_dead_letters_and_receipts_are_kept(notifications: Pair) -> None:
    ledger, store = notifications
    await store.subscribe(Subscription("s1", TN, "email", "dana@example.com", ALL))
    await store.subscribe(Subscription("s2", TN, "sms", "+14045550199", ALL))
    await ledger.apply([scan(1, ScanCode.PICKED_UP)], [], project_package)
    await store.dispatch(100, planner(), NOW)
    email, sms = sorted(await store.claim(10, NOW, 1), key=lambda d: d.channel)

    await store.record(
        [
            Attempt(
                email.delivery_id,
                NOW,
                "retry",
                12.5,
                "sendgrid",
                error="HTTP 503",
                next_attempt_at=NOW + 5,
            ),
            Attempt(sms.delivery_id, NOW, "dead", 3.0, "twilio", error="HTTP 400: invalid number"),
        ]
    )
    [retried] = await store.claim(10, NOW + 10, 1)
    assert retried.delivery_id == email.delivery_id
    assert retried.attempts == 1
    await store.record([Attempt(email.delivery_id, NOW + 10, "sent", 40.0, "sendgrid", "msg-123")])
    assert await store.receipt("sendgrid", "msg-123", "delivered")
    assert not await store.receipt("sendgrid", "msg-unknown", "delivered")

    by_channel = {r.channel: r for r in await store.deliveries(TN)}
    assert (by_channel["email"].state, by_channel["email"].attempts) == ("sent", 2)
    assert (by_channel["email"].provider_message_id, by_channel["email"].receipt) == (
        "msg-123",
        "delivered",
    )
    assert (by_channel["sms"].state, by_channel["sms"].last_error) == (
        "dead",
        "HTTP 400: invalid number",
    )
    assert await store.claim(10, NOW + 10**9, 1) == []


async def test_unsubscribed_subscriptions_are_gone(notifications: Pair) -> None:
    _, store = notifications
    subscription = Subscription(
        "s1", TN, "webhook", "https://shipper.example/hook", ALL, secret="whsec"
    )
    await store.subscribe(subscription)
    assert await store.subscription("s1") == subscription
    assert await store.unsubscribe("s1") == subscription
    assert await store.unsubscribe("s1") is None
    assert await store.subscription("s1") is None
