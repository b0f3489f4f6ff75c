"""Each partner carrier's package followed from label to delivery by push alone, by polling
alone, and by both at once, against fake carriers speaking the carriers' wire formats: all three
end with the same history, that of the journey the carrier played."""

from __future__ import annotations

from datetime import datetime

import pytest

from parcelstream.carriers.fake.server import FakeOptions
from tests.carriers.conftest import PairFactory
from tests.carriers.harness import API_ID, API_SECRET, NUMBERS, history, journey

START = "2026-11-16T09:00:00-05:00"


def options() -> FakeOptions:
    return FakeOptions(
        client_id=API_ID, client_secret=API_SECRET, start=datetime.fromisoformat(START)
    )


@pytest.mark.parametrize("carrier", ["ups", "fedex", "usps"])
def test_push_alone_poll_alone_and_both_end_with_the_same_history(
    carrier: str, pairs: PairFactory
) -> None:
    tn = NUMBERS[carrier]
    running = [pairs(carrier, mode, options=options()) for mode in ("push", "poll", "both")]
    events = []
    for pair in running:
        events = journey(pair, tn, START)
        pair.app.register(tn, carrier)
    for seen, event in enumerate(events, 1):
        for pair in running:
            pair.fake.admin("POST", "clock", {"to": event["timestamp"]})
        for pair in running:
            pair.app.wait_for(tn, lambda d, seen=seen: len(d["events"]) >= seen)
    documents = [p.app.wait_for(tn, lambda d: d["status"] == "DELIVERED") for p in running]
    push, poll, both = (history(d) for d in documents)
    assert push == poll == both
    assert len(push) == len(events)
    journey_instants = [datetime.fromisoformat(e["timestamp"]) for e in reversed(events)]
    assert [datetime.fromisoformat(e[0]) for e in push] == journey_instants
    assert documents[0]["events"][0]["status_code"] == "DELIVERED"
    assert documents[0]["events"][-1]["status_code"] == "LABEL_CREATED"
    pushed, polled, both_stats = (p.fake.admin("GET", "stats") for p in running)
    assert pushed["track_requests"] == 0  # push alone: nobody polled
    assert polled["pushes"] == 0  # poll alone: nothing pushed
    assert both_stats["pushes"] >= len(events)
    assert polled["track_requests"] >= 1
