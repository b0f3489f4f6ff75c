"""The fake FedEx pushes as AIV does: a refused push is retried three times, then waits in the
missed-events queue until replayed, and the replay completes the history."""

from __future__ import annotations

import time
from datetime import datetime

from parcelstream.carriers.fake.server import FakeOptions
from tests.carriers.conftest import PairFactory
from tests.carriers.harness import API_ID, API_SECRET, FEDEX_TOKEN, NUMBERS, history, journey

START = "2026-11-16T09:00:00-05:00"


def test_refused_pushes_are_retried_then_replayed_from_the_missed_queue(
    pairs: PairFactory,
) -> None:
    tn = NUMBERS["fedex"]
    options = FakeOptions(
        client_id=API_ID, client_secret=API_SECRET, start=datetime.fromisoformat(START)
    )
    pair = pairs("fedex", "push", options=options)
    events = journey(pair, tn, START)
    fake = pair.fake.fake
    fake.push.secret = "NotTheSecurityToken2026abcXYZ"  # our server refuses every signature
    pair.fake.admin("POST", "clock", {"to": events[-1]["timestamp"]})
    deadline = time.monotonic() + 10
    while len(fake.missed) < len(events):
        assert time.monotonic() < deadline, (fake.stats, len(fake.missed))
        time.sleep(0.05)
    assert fake.stats.push_failures == 4 * len(events)  # the first try and 3 retries each
    assert pair.app.track(tn) is None  # nothing forged got in

    fake.push.secret = FEDEX_TOKEN
    replayed = pair.fake.admin("POST", "missed/replay", {})
    assert replayed == {"delivered": len(events)}
    document = pair.app.wait_for(tn, lambda d: d["status"] == "DELIVERED")
    assert len(history(document)) == len(events)
    assert fake.missed == []


def test_a_package_first_heard_of_by_push_is_backfilled_by_one_poll(pairs: PairFactory) -> None:
    tn = NUMBERS["ups"]
    options = FakeOptions(
        client_id=API_ID, client_secret=API_SECRET, start=datetime.fromisoformat(START)
    )
    pair = pairs("ups", "both", options=options)
    events = journey(pair, tn, START)
    fake = pair.fake.fake
    webhook = fake.push.webhook_url
    fake.push.webhook_url = "http://127.0.0.1:9/nobody-listens"  # UPS keeps no retries: lost
    pair.fake.admin("POST", "clock", {"to": events[-3]["timestamp"]})
    deadline = time.monotonic() + 10
    while len(fake.missed) < len(events) - 2:
        assert time.monotonic() < deadline, fake.stats
        time.sleep(0.02)
    assert pair.app.track(tn) is None  # never registered, nothing arrived: unknown to us

    fake.push.webhook_url = webhook
    pair.fake.admin("POST", "clock", {"to": events[-1]["timestamp"]})  # out for delivery, delivered
    document = pair.app.wait_for(tn, lambda d: len(d["events"]) == len(events))
    assert document["status"] == "DELIVERED"
    assert fake.stats.track_requests >= 1
