"""UPS Track Alert subscriptions last 14 days: each followed package is subscribed when first
seen and renewed before it lapses, so pushes keep coming; delivery ends it."""

from __future__ import annotations

import itertools
import time
from datetime import datetime

from parcelstream.carriers.fake.server import FakeOptions
from tests.carriers.conftest import PairFactory
from tests.carriers.harness import API_ID, API_SECRET, NUMBERS, history, journey

START = "2026-11-16T09:00:00-05:00"
SCALE = 1 / 360_000
"""Fourteen days in 3.4 s; renewals a (scaled) day ahead, 0.24 s before expiry."""
LIFETIME = 14 * 86_400 * SCALE


def test_subscriptions_are_renewed_before_they_lapse(pairs: PairFactory) -> None:
    tn = NUMBERS["ups"]
    pair = pairs(
        "ups",
        "both",
        options=FakeOptions(
            client_id=API_ID,
            client_secret=API_SECRET,
            start=datetime.fromisoformat(START),
            subscription_seconds=LIFETIME,
            require_subscription=True,
        ),
        subscribe=True,
        poll_interval_scale=SCALE,
    )
    events = journey(pair, tn, START)
    pair.app.register(tn, "ups")
    pair.fake.admin("POST", "clock", {"to": events[1]["timestamp"]})
    pair.app.wait_for(tn, lambda d: len(d["events"]) == 2)
    time.sleep(LIFETIME * 1.2)

    fake = pair.fake.fake
    asked = [r["at"] for r in fake.stats.subscribe_requests if tn in r["numbers"]]
    assert len(asked) >= 2, fake.stats.subscribe_requests
    gaps = [later - earlier for earlier, later in itertools.pairwise(asked)]
    assert all(gap < LIFETIME for gap in gaps), gaps  # each renewal before the last one lapsed
    assert fake.subscriptions[tn] > time.monotonic()
    assert fake.lapsed == []

    pair.fake.admin("POST", "clock", {"to": events[-1]["timestamp"]})
    document = pair.app.wait_for(tn, lambda d: d["status"] == "DELIVERED")
    assert len(history(document)) == len(events)
    # Pushes flowed for the events released while subscribed (polling may have been first).
    deadline = time.monotonic() + 5
    while fake.stats.pushes < len(events) - 2:
        assert time.monotonic() < deadline, (fake.stats.pushes, fake.subscriptions)
        time.sleep(0.02)
    renewals = len(fake.stats.subscribe_requests)
    time.sleep(LIFETIME / 2)
    assert len(fake.stats.subscribe_requests) == renewals  # delivered: no more renewals
