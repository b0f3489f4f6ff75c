"""The fake UPS driven by the simulator's own journeys: a scenario from `parcelstream.sim` (the
one `parcelstream simulate --save` writes) played by the fake carrier, pushed to and polled by
our server, ends with each delivered package's history as the simulator made it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from parcelstream.carriers.fake.server import FakeOptions
from parcelstream.domain.status import STATUS_OF
from parcelstream.sim.faults import Faults
from parcelstream.sim.scenario import generate
from tests.carriers.conftest import PairFactory
from tests.carriers.harness import API_ID, API_SECRET


def test_simulated_ups_journeys_end_as_the_simulator_made_them(
    pairs: PairFactory, tmp_path: Path
) -> None:
    two_weeks_ago = datetime.now(UTC) - timedelta(days=14)
    monday = two_weeks_ago - timedelta(days=two_weeks_ago.weekday())
    start = monday.replace(hour=0, minute=0, second=0, microsecond=0)
    scenario = generate(seed=11, start=start, days=5, packages_per_day=6, faults=Faults.none())
    path = tmp_path / "scenario.jsonl"
    scenario.save(path)
    delivered = [t for t in scenario.truths if t.outcome == "delivered"][:3]
    assert delivered, "the scenario delivered nothing"
    journeys = scenario.journeys()

    pair = pairs(
        "ups",
        "both",
        options=FakeOptions(client_id=API_ID, client_secret=API_SECRET, scenario=path, start=start),
    )
    for truth in delivered:
        pair.app.register(truth.tracking_number, "ups")
    last = max(truth.delivered_at for truth in delivered if truth.delivered_at)
    pair.fake.admin("POST", "clock", {"to": (last + timedelta(minutes=1)).isoformat()})

    for truth in delivered:
        tn = truth.tracking_number
        document = pair.app.wait_for(tn, lambda d: d["status"] == "DELIVERED", within=20)
        expected = [
            (datetime.fromisoformat(scan.body["timestamp"]), STATUS_OF[scan.body["status_code"]])
            for scan in journeys[tn]
        ]
        seen = [
            (datetime.fromisoformat(event["timestamp"]), event["status"])
            for event in reversed(document["events"])
        ]
        assert seen == expected, tn
        assert seen[-1][0] == truth.delivered_at
