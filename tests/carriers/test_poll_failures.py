"""Polling through a carrier's bad moments: 429 with Retry-After, 5xx, slow and malformed
answers, refused tokens. No scan is lost, the poller backs off, and delivery stops polling."""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime

import pytest

from parcelstream.carriers.fake.server import FakeOptions
from tests.carriers.conftest import PairFactory
from tests.carriers.harness import API_ID, API_SECRET, NUMBERS, Pair, history, journey

START = "2026-11-16T09:00:00-05:00"


def options(**more: object) -> FakeOptions:
    return FakeOptions(
        client_id=API_ID,
        client_secret=API_SECRET,
        start=datetime.fromisoformat(START),
        **more,  # type: ignore[arg-type]
    )


def fault(pair: Pair, **body: object) -> None:
    pair.fake.admin("POST", "faults", {"route": "track", **body})


# UPS polls by GET as USPS does; USPS is the one that documents 429 with Retry-After.
@pytest.mark.parametrize("carrier", ["fedex", "usps"])
def test_throttling_outages_and_bad_bodies_lose_no_scan(carrier: str, pairs: PairFactory) -> None:
    tn = NUMBERS[carrier]
    pair = pairs(carrier, "poll", options=options())
    events = journey(pair, tn, START)
    pair.app.register(tn, carrier)
    pair.fake.admin("POST", "clock", {"to": events[0]["timestamp"]})
    pair.app.wait_for(tn, lambda d: len(d["events"]) == 1)

    fault(pair, status=429, retry_after="0.6", count=1)
    fault(pair, status=503, count=2)
    fault(pair, malformed=True, count=1)
    fault(pair, delay=0.3, count=1)
    throttled_at = len(pair.fake.fake.stats.track_times)
    pair.fake.admin("POST", "clock", {"to": events[-1]["timestamp"]})

    document = pair.app.wait_for(tn, lambda d: d["status"] == "DELIVERED", within=20)
    assert len(history(document)) == len(events)
    times = pair.fake.fake.stats.track_times
    assert pair.fake.fake.stats.faults_served == 5
    # The call after the 429 waited out its Retry-After; the 5xx ones backed off too.
    assert times[throttled_at + 1] - times[throttled_at] >= 0.55
    assert times[throttled_at + 2] - times[throttled_at + 1] >= 0.02


def poll_row(pair: Pair, tn: str) -> tuple[object, ...]:
    conn = sqlite3.connect(pair.app.settings.data_dir / "state.db")
    try:
        row = conn.execute(
            "SELECT status, due_at, polls, found FROM carrier_polls WHERE tracking_number = ?",
            (tn,),
        ).fetchone()
    finally:
        conn.close()
    assert row is not None
    return tuple(row)


def test_delivered_stops_polling(pairs: PairFactory) -> None:
    tn = NUMBERS["ups"]
    pair = pairs("ups", "poll", options=options(not_found_as_warning=True))
    events = journey(pair, tn, START)
    pair.app.register(tn, "ups")
    time.sleep(0.6)  # polled before any event: UPS answers 200 with the TW0001 warning
    assert pair.fake.fake.stats.track_requests >= 1
    pair.fake.admin("POST", "clock", {"to": events[-1]["timestamp"]})
    pair.app.wait_for(tn, lambda d: d["status"] == "DELIVERED")
    deadline = time.monotonic() + 5
    while poll_row(pair, tn)[1] is not None:
        assert time.monotonic() < deadline, poll_row(pair, tn)
        time.sleep(0.02)
    status, _, _, found = poll_row(pair, tn)
    assert status == "DELIVERED"
    assert found == len(events)
    asked = pair.fake.fake.stats.track_requests
    time.sleep(0.5)  # fifty in-transit intervals at this scale
    assert pair.fake.fake.stats.track_requests == asked


def test_a_refused_token_is_replaced_and_the_poll_retried(pairs: PairFactory) -> None:
    tn = NUMBERS["fedex"]
    pair = pairs("fedex", "poll", options=options())
    events = journey(pair, tn, START)
    pair.app.register(tn, "fedex")
    pair.fake.admin("POST", "clock", {"to": events[2]["timestamp"]})
    pair.app.wait_for(tn, lambda d: len(d["events"]) == 3)
    assert pair.fake.fake.stats.token_requests == 1  # one token for every poll so far
    pair.fake.admin("POST", "tokens/revoke", {})
    pair.fake.admin("POST", "clock", {"to": events[-1]["timestamp"]})
    pair.app.wait_for(tn, lambda d: d["status"] == "DELIVERED")
    assert pair.fake.fake.stats.tokens_refused >= 1
    assert pair.fake.fake.stats.token_requests == 2


@pytest.mark.parametrize("carrier", ["ups", "fedex", "usps"])
def test_duplicate_and_out_of_order_pushes_end_with_the_journey(
    carrier: str, pairs: PairFactory
) -> None:
    tn = NUMBERS[carrier]
    pair = pairs(carrier, "push", options=options())
    events = journey(pair, tn, START)
    pair.fake.admin("POST", "faults", {"route": "push", "duplicate": True, "reorder": True})
    pair.fake.admin("POST", "clock", {"to": events[-1]["timestamp"]})  # all at once
    document = pair.app.wait_for(tn, lambda d: len(d["events"]) == len(events))
    assert document["status"] == "DELIVERED"
    assert document["events"][0]["status_code"] == "DELIVERED"
    # Every push went twice, newest first (FedEx's first one already held the whole history).
    deadline = time.monotonic() + 5
    while pair.fake.fake.stats.pushes < 2 * len(events):
        assert time.monotonic() < deadline, pair.fake.fake.stats
        time.sleep(0.02)
    final = pair.app.wait_for(tn, lambda d: len(d["events"]) == len(events))
    assert history(final) == history(document)
